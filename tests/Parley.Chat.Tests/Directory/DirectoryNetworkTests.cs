using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Dht.Records;
using Parley.Testing;
using static Parley.Chat.Tests.Directory.DirectoryTestSupport;

namespace Parley.Chat.Tests.Directory;

/// <summary>30 DHT nodes that all validate the "parley" namespace at a low stamp difficulty.</summary>
public sealed class ChatNetworkFixture : IAsyncLifetime
{
    public static readonly DirectoryOptions Options = new() { NameClaimDifficulty = Difficulty };

    public DhtTestNetwork Network { get; private set; } = null!;

    public static RecordValidatorRegistry Validators(DirectoryOptions options)
    {
        var registry = ParleyRecords.CreateValidators(TimeProvider.System);
        ChatRecords.Register(registry, TimeProvider.System, options);
        return registry;
    }

    public DirectoryClient Client(int node) => new(Network.Nodes[node].Node, TimeProvider.System, Options);

    public async Task InitializeAsync() => Network = await DhtTestNetwork.StartAsync(30, validators: () => Validators(Options));

    public async Task DisposeAsync() => await Network.DisposeAsync();
}

public sealed class DirectoryNetworkTests(ChatNetworkFixture fixture) : IClassFixture<ChatNetworkFixture>, IDisposable
{
    private readonly CancellationTokenSource _cts = new(TimeSpan.FromSeconds(60));

    private CancellationToken Token => _cts.Token;

    [Fact]
    public async Task Presence_published_through_one_node_is_found_through_another()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var laptop = account.CertifyDevice(Laptop.PublicKey, DateTimeOffset.UtcNow);
        var phone = account.CertifyDevice(Phone.PublicKey, DateTimeOffset.UtcNow);
        var addresses = new DeviceAddresses(Laptop.PeerId, [LaptopAddress, Multiaddr.Parse("/ip6/2001:db8::1/tcp/4001")]);

        var stored = await fixture.Client(3).PublishPresenceAsync(account, [laptop, phone], [addresses], Token);
        var presence = await fixture.Client(25).GetPresenceAsync(account.Id, Token);

        Assert.True(stored >= 10, $"stored at {stored} peers");
        Assert.NotNull(presence);
        Assert.Equal(account.PublicKey, presence.Account);
        Assert.Equal([Laptop.PeerId, Phone.PeerId], presence.Devices.Select(d => d.DeviceId));
        Assert.Equal(addresses.Addresses, Assert.Single(presence.Addresses).Addresses);
        Assert.True(presence.IsOnline);
        Assert.Null(await fixture.Client(25).GetPresenceAsync(Account.Create(DefaultCryptoProvider.Instance).Id, Token));
    }

    [Fact]
    public async Task A_newer_presence_wins_even_within_one_millisecond()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var laptop = account.CertifyDevice(Laptop.PublicKey, DateTimeOffset.UtcNow);
        var client = fixture.Client(4);
        await client.PublishPresenceAsync(account, [laptop], [new DeviceAddresses(Laptop.PeerId, [LaptopAddress])], Token);
        var first = await fixture.Client(20).GetPresenceAsync(account.Id, Token);

        await client.PublishPresenceAsync(account, [laptop], [], Token);
        var second = await fixture.Client(21).GetPresenceAsync(account.Id, Token);

        Assert.True(first!.IsOnline);
        Assert.False(second!.IsOnline);
        Assert.True(second.Sequence > first.Sequence);
    }

    [Fact]
    public async Task Sequences_increase_strictly_for_publishes_in_the_same_millisecond()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var client = new DirectoryClient(fixture.Network.Nodes[5].Node, clock, ChatNetworkFixture.Options);

        await client.PublishPrekeysAsync(account, 1, Fill(1), Token);
        await client.PublishPrekeysAsync(account, 2, Fill(2), Token);
        var bundle = await fixture.Client(22).GetPrekeysAsync(account.Id, Token);

        Assert.Equal(2U, bundle!.SignedPrekeyId);
        Assert.Equal((ulong)clock.GetUtcNow().ToUnixTimeMilliseconds() + 1, bundle.Sequence);
    }

    [Fact]
    public async Task Prekeys_published_through_one_node_are_found_through_another()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var (_, prekey) = DefaultCryptoProvider.Instance.GenerateX25519KeyPair();

        Assert.True(await fixture.Client(6).PublishPrekeysAsync(account, 17, prekey, Token) >= 10);
        var bundle = await fixture.Client(27).GetPrekeysAsync(account.Id, Token);

        Assert.NotNull(bundle);
        Assert.Equal(account.PublicKey, bundle.Account);
        Assert.Equal(account.IdentityDhPublicKey, bundle.Identity.DhKey);
        Assert.Equal(17U, bundle.SignedPrekeyId);
        Assert.Equal(prekey, bundle.SignedPrekey);
        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Client(6).PublishPrekeysAsync(account, 18, new byte[31], Token));
    }

    [Fact]
    public async Task Two_accounts_claiming_one_name_are_both_found_in_claim_order_and_each_by_its_handle()
    {
        var first = Account.Create(DefaultCryptoProvider.Instance);
        var second = Account.Create(DefaultCryptoProvider.Instance);

        var claimed = await fixture.Client(2).ClaimNameAsync(first, "Alice", Token);
        await fixture.Client(7).ClaimNameAsync(second, "alice", Token);

        Assert.Equal(first.HandleFor("alice"), claimed.Handle);
        Assert.True(claimed.Stored >= 10, $"stored at {claimed.Stored} of {claimed.Attempted}");
        var reader = fixture.Client(19);
        var all = await reader.FindAsync("alice", Token);
        Assert.Equal([first.HandleFor("alice"), second.HandleFor("alice")], all.Select(m => m.Handle));
        Assert.Equal([first.PublicKey, second.PublicKey], all.Select(m => m.Account));
        Assert.Equal(first.Id, Assert.Single(await reader.FindAsync($"alice#{first.Tag}", Token)).AccountId);
        Assert.Equal(second.Id, Assert.Single(await reader.FindAsync($"ALICE#{second.Tag}", Token)).AccountId);
        Assert.Empty(await reader.FindAsync($"alice#{Account.Create(DefaultCryptoProvider.Instance).Tag}", Token));
        Assert.Empty(await reader.FindAsync("nobody-has-this", Token));
        await Assert.ThrowsAsync<FormatException>(() => reader.FindAsync("al ice", Token));
    }

    [Fact]
    public async Task The_stamp_is_solved_once_and_renewals_reuse_it()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var client = fixture.Client(8);

        var claimed = await client.ClaimNameAsync(account, "carol", Token);
        var again = await client.ClaimNameAsync(account, "carol", Token);
        // A client with no memory of it finds the stamp in the DHT.
        var restarted = await fixture.Client(9).ClaimNameAsync(account, "carol", Token);
        var renewed = await fixture.Client(10).RenewNameAsync(account, "carol", claimed.ProofOfWork, Token);

        Assert.Equal(claimed.ProofOfWork, again.ProofOfWork);
        Assert.Equal(claimed.ProofOfWork, restarted.ProofOfWork);
        Assert.Equal(claimed.Handle, renewed.Handle);
        Assert.Single(await fixture.Client(11).FindAsync("carol", Token));
        var bad = BadStampFor(account, "carol");
        await Assert.ThrowsAsync<ArgumentException>(() => client.RenewNameAsync(account, "carol", bad, Token));
    }

    [Fact]
    public async Task The_17th_claimant_of_a_name_is_told_it_is_unavailable()
    {
        var claimants = Enumerable.Range(0, 17).Select(_ => Account.Create(DefaultCryptoProvider.Instance)).ToList();
        for (var i = 0; i < 16; i++)
        {
            await fixture.Client(i).ClaimNameAsync(claimants[i], "popular", Token);
        }

        var error = await Assert.ThrowsAsync<NameUnavailableException>(() => fixture.Client(20).ClaimNameAsync(claimants[16], "popular", Token));

        Assert.Equal("popular", error.Name);
        Assert.Equal(claimants.Take(16).Select(c => c.Id), (await fixture.Client(21).FindAsync("popular", Token)).Select(m => m.AccountId));
        // A member can still renew.
        await fixture.Client(22).ClaimNameAsync(claimants[3], "popular", Token);
    }

    [Fact]
    public async Task Two_devices_publish_their_own_presence_without_overwriting_each_other()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var laptop = account.CertifyDevice(Laptop.PublicKey, DateTimeOffset.UtcNow);
        var phone = account.CertifyDevice(Phone.PublicKey, DateTimeOffset.UtcNow);
        var phoneAddress = Multiaddr.Parse("/ip4/192.0.2.11/tcp/4001");

        await fixture.Client(2).PublishDeviceListAsync(account, [new LinkedDevice(laptop, "laptop"), new LinkedDevice(phone, "phone")], [], Token);
        await fixture.Client(2).PublishDevicePresenceAsync(account, laptop, [LaptopAddress], Token);
        await fixture.Client(9).PublishDevicePresenceAsync(account, phone, [phoneAddress], Token);
        await fixture.Client(9).PublishDevicePrekeysAsync(account, phone.DeviceId, 3, Fill(0x33), Token);

        var reader = fixture.Client(27);
        var list = await reader.GetDeviceListAsync(account.Id, Token);
        Assert.NotNull(list);
        Assert.Equal(["laptop", "phone"], list.Devices.Select(d => d.Name));
        Assert.Equal([LaptopAddress], Assert.Single((await reader.GetDevicePresenceAsync(account.Id, laptop.DeviceId, Token))!.Addresses).Addresses);
        Assert.Equal([phoneAddress], Assert.Single((await reader.GetDevicePresenceAsync(account.Id, phone.DeviceId, Token))!.Addresses).Addresses);
        var prekeys = await reader.GetDevicePrekeysAsync(account.Id, phone.DeviceId, Token);
        Assert.Equal(3u, prekeys!.SignedPrekeyId);
        Assert.Null(await reader.GetDevicePrekeysAsync(account.Id, laptop.DeviceId, Token));
        Assert.Null(await reader.GetDeviceListAsync(Account.Create(DefaultCryptoProvider.Instance).Id, Token));
    }

    [Fact]
    public async Task A_list_breaking_the_rules_is_refused_before_it_leaves_the_node()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var laptop = account.CertifyDevice(Laptop.PublicKey, DateTimeOffset.UtcNow);

        var error = await Assert.ThrowsAsync<RecordValidationException>(() =>
            fixture.Client(5).PublishDeviceListAsync(account, [new LinkedDevice(laptop, "laptop")], [Laptop.PublicKey], Token));

        Assert.Contains("both listed and removed", error.Reason, StringComparison.Ordinal);
        Assert.Null(await fixture.Client(6).GetDeviceListAsync(account.Id, Token));
    }

    public void Dispose() => _cts.Dispose();

    private static ulong BadStampFor(Account account, string name)
    {
        var challenge = Parley.Chat.Directory.NameClaim.Challenge(name, account.PublicKey);
        var nonce = 0UL;
        while (ProofOfWork.Verify(challenge, nonce, Difficulty))
        {
            nonce++;
        }
        return nonce;
    }
}

public sealed class DirectoryCheaterTests
{
    [Fact]
    public async Task A_claim_without_work_is_refused_by_the_storing_nodes()
    {
        // Node 0 does not check stamps; every other node does.
        var lenient = new DirectoryOptions { NameClaimDifficulty = 0 };
        var made = 0;
        await using var network = await DhtTestNetwork.StartAsync(20, validators: () =>
            ChatNetworkFixture.Validators(Interlocked.Increment(ref made) == 1 ? lenient : ChatNetworkFixture.Options));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var cheater = new DirectoryClient(network.Nodes[0].Node, TimeProvider.System, lenient);
        var mallory = Account.Create(DefaultCryptoProvider.Instance);
        var challenge = Parley.Chat.Directory.NameClaim.Challenge("mallory", mallory.PublicKey);
        var lazy = 0UL;
        while (ProofOfWork.Verify(challenge, lazy, Difficulty))
        {
            lazy++;
        }

        var result = await cheater.RenewNameAsync(mallory, "mallory", lazy, cts.Token);

        Assert.Equal(0, result.Stored);
        Assert.True(result.Attempted > 0);
        var key = DirectoryKeys.Name("mallory").ToArray();
        Assert.All(network.Nodes.Skip(1), n => Assert.Null(n.Node.Records.Get(key)));
        Assert.Empty(await new DirectoryClient(network.Nodes[10].Node, TimeProvider.System, ChatNetworkFixture.Options).FindAsync("mallory", cts.Token));
    }
}

public sealed class DirectoryClaimOrderTests
{
    [Fact]
    public async Task A_reader_returns_the_order_most_holders_agree_on_beside_a_one_claim_copy()
    {
        // Copies as a small network holds them after a claim race: three holders in claim order, one that got Bob's claim
        // first, and the last claimant's own node (outside the closest) holding only her claim.
        await using var network = await DhtTestNetwork.StartAsync(6, validators: () => ChatNetworkFixture.Validators(ChatNetworkFixture.Options));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var expires = DateTimeOffset.UtcNow + TimeSpan.FromDays(1);
        var (alice, bob, mallory) = (Claim(Alice), Claim(Bob), Claim(Mallory));
        var key = DirectoryKeys.Name("crowded").ToArray();
        byte[][] held = [Set(alice, bob, mallory), Set(alice, bob, mallory), Set(alice, bob, mallory), Set(bob, alice, mallory), Set(mallory)];
        for (var i = 0; i < held.Length; i++)
        {
            Assert.Equal(PutOutcome.Stored, network.Nodes[i + 1].Node.Records.Put(key, held[i], Alice.Id));
        }

        var found = await new DirectoryClient(network.Nodes[0].Node, TimeProvider.System, ChatNetworkFixture.Options).FindAsync("crowded", cts.Token);

        Assert.Equal([Alice.Id, Bob.Id, Mallory.Id], found.Select(m => m.AccountId));

        NameClaim Claim(Account account) => NameClaim.Create(account.SigningKey, "crowded", 1, expires, Stamp(account, "crowded"));
    }
}

public sealed class DirectoryDefaultDifficultyTests
{
    [Fact]
    public async Task A_name_claimed_at_the_default_difficulty_is_found()
    {
        var options = new DirectoryOptions();
        await using var network = await DhtTestNetwork.StartAsync(10, validators: () => ChatNetworkFixture.Validators(options));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var account = Account.Create(DefaultCryptoProvider.Instance);

        var claimed = await new DirectoryClient(network.Nodes[1].Node, TimeProvider.System).ClaimNameAsync(account, "dave", cts.Token);
        var found = await new DirectoryClient(network.Nodes[8].Node, TimeProvider.System).FindAsync($"dave#{account.Tag}", cts.Token);

        Assert.True(ProofOfWork.Verify(Parley.Chat.Directory.NameClaim.Challenge("dave", account.PublicKey), claimed.ProofOfWork, 21));
        Assert.True(claimed.Stored >= 5, $"stored at {claimed.Stored} of {claimed.Attempted}");
        Assert.Equal(account.PublicKey, Assert.Single(found).Account);
    }
}
