using System.Security.Cryptography;
using Parley.Chat.Mailbox;
using Parley.Core.Identity;
using Parley.Testing;

namespace Parley.Storage.Tests;

/// <summary>What every <see cref="IMailboxStore"/> must do; run against the in-memory and the SQLite store.</summary>
public abstract class MailboxStoreContractTests : IAsyncLifetime
{
    private static readonly byte[] Mailbox = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] OtherMailbox = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] Token = RandomNumberGenerator.GetBytes(32);
    private readonly List<IMailboxStore> _opened = [];

    protected ManualTimeProvider Time { get; } = new();

    protected static MailboxOptions SmallLimits { get; } = new()
    {
        MaxEnvelopesPerMailbox = 10,
        MaxBytesPerMailbox = 10 * 100,
        MaxEnvelopesPerToken = 3,
        MaxStampedPerDepositor = 2,
        MaxStampedPerMailbox = 4,
        MaxTombstonesPerMailbox = 3,
        MaxPrekeysPerMailbox = 5,
    };

    public Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var store in _opened)
        {
            if (store is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }
        }
    }

    protected abstract Task<IMailboxStore> CreateAsync(MailboxOptions options);

    protected async Task<IMailboxStore> OpenAsync(MailboxOptions? options = null)
    {
        var store = await CreateAsync(options ?? SmallLimits);
        _opened.Add(store);
        return store;
    }

    protected HeldEnvelope Envelope(int id, string depositor = "depositor-a", byte[]? token = null, int size = 100, byte[]? mailbox = null)
    {
        var envelopeId = new byte[16];
        envelopeId[0] = (byte)id;
        envelopeId[1] = (byte)(id >> 8);
        var now = Time.GetUtcNow();
        return new HeldEnvelope(mailbox ?? Mailbox, envelopeId, RandomNumberGenerator.GetBytes(size), now, now + TimeSpan.FromDays(30), token, token is null ? 42UL : 0, depositor);
    }

    protected static HeldPolicy Policy(ulong sequence, DateTimeOffset expiresAt, params byte[][] tokens) =>
        new(Mailbox, sequence, tokens.Select(t => SHA256.HashData(t)).ToList(), expiresAt, RandomNumberGenerator.GetBytes(50));

    protected Tombstone Tombstone(int id, TimeSpan lifetime, params HeldEnvelope[] envelopes) =>
        new(Mailbox, SHA256.HashData([(byte)id]), envelopes.Select(e => e.EnvelopeId).ToList(), Time.GetUtcNow() + lifetime, RandomNumberGenerator.GetBytes(80));

    [Fact]
    public async Task An_envelope_is_stored_once_and_a_second_deposit_is_a_duplicate()
    {
        var store = await OpenAsync();
        var envelope = Envelope(1);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(envelope, default)).Status);
        Assert.Equal(StoreStatus.Duplicate, (await store.AddEnvelopeAsync(envelope with { Envelope = [1, 2, 3] }, default)).Status);
        var held = Assert.Single((await store.GetEnvelopesAsync(Mailbox, 0, 10, 1 << 20, default)).Envelopes);
        Assert.Equal(envelope.Envelope, held.Envelope);
        Assert.Equal(envelope.StoredAt, held.StoredAt);
        Assert.Equal(envelope.Depositor, held.Depositor);
        Assert.Equal(42UL, held.StampNonce);
        Assert.Empty((await store.GetEnvelopesAsync(OtherMailbox, 0, 10, 1 << 20, default)).Envelopes);
        Assert.Equal([envelope.EnvelopeId], (await store.GetInventoryAsync(Mailbox, default)).EnvelopeIds);
        Assert.Equal([Mailbox], await store.GetMailboxIdsAsync(default));
    }

    [Fact]
    public async Task Envelopes_come_in_pages_bounded_by_count_and_bytes_in_the_order_they_were_stored()
    {
        var store = await OpenAsync();
        var stored = Enumerable.Range(1, 7).Select(i => Envelope(i, depositor: $"d{i}", size: 50)).ToList();
        foreach (var envelope in stored.Take(4))
        {
            await store.AddEnvelopeAsync(envelope, default);
        }
        await store.SetPolicyAsync(Policy(1, Time.GetUtcNow() + TimeSpan.FromDays(1), Token), default);
        foreach (var envelope in stored.Skip(4))
        {
            await store.AddEnvelopeAsync(envelope with { Token = Token }, default);
        }
        var pages = new List<EnvelopePage>();
        long cursor = 0;
        do
        {
            pages.Add(await store.GetEnvelopesAsync(Mailbox, cursor, 3, 1 << 20, default));
            cursor = pages[^1].NextCursor ?? 0;
        }
        while (pages[^1].NextCursor is not null);
        Assert.Equal([3, 3, 1], pages.Select(p => p.Envelopes.Count));
        Assert.Equal(stored.Select(e => e.EnvelopeId), pages.SelectMany(p => p.Envelopes).Select(e => e.EnvelopeId));

        var byBytes = await store.GetEnvelopesAsync(Mailbox, 0, 100, 120, default);
        Assert.Equal(2, byBytes.Envelopes.Count);
        Assert.NotNull(byBytes.NextCursor);
        // A page always holds at least one envelope, however small the byte bound.
        Assert.Single((await store.GetEnvelopesAsync(Mailbox, 0, 100, 1, default)).Envelopes);
    }

    [Fact]
    public async Task A_tombstone_deletes_its_envelopes_and_keeps_them_out_until_it_expires()
    {
        var store = await OpenAsync();
        var (kept, deleted, neverSeen) = (Envelope(1), Envelope(2), Envelope(3));
        await store.AddEnvelopeAsync(kept, default);
        await store.AddEnvelopeAsync(deleted, default);
        var tombstone = Tombstone(1, TimeSpan.FromDays(31), deleted, neverSeen);

        Assert.Equal(1, await store.AddTombstoneAsync(tombstone, default));
        Assert.Equal(0, await store.AddTombstoneAsync(tombstone, default));
        Assert.Equal([kept.EnvelopeId], (await store.GetEnvelopesAsync(Mailbox, 0, 10, 1 << 20, default)).Envelopes.Select(e => e.EnvelopeId));
        // Neither the deleted envelope nor one named before it arrived can come back.
        Assert.Equal(StoreStatus.Duplicate, (await store.AddEnvelopeAsync(deleted, default)).Status);
        Assert.Equal(StoreStatus.Duplicate, (await store.AddEnvelopeAsync(neverSeen, default)).Status);
        var inventory = await store.GetInventoryAsync(Mailbox, default);
        Assert.Equal([tombstone.Id], inventory.TombstoneIds);
        var held = Assert.Single(await store.GetTombstonesAsync(Mailbox, [tombstone.Id, new byte[32]], default));
        Assert.Equal(tombstone.SignedRequest, held.SignedRequest);
        Assert.Equal(tombstone.EnvelopeIds.Select(Convert.ToHexString).Order(), held.EnvelopeIds.Select(Convert.ToHexString).Order());

        Time.Advance(TimeSpan.FromDays(31));
        Assert.True(await store.RemoveExpiredAsync(default) >= 2);
        Assert.Empty((await store.GetInventoryAsync(Mailbox, default)).TombstoneIds);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(2), default)).Status);
    }

    [Fact]
    public async Task Beyond_the_bound_the_tombstones_that_expire_first_are_dropped()
    {
        var store = await OpenAsync();
        var tombstones = Enumerable.Range(1, 5).Select(i => Tombstone(i, TimeSpan.FromDays(i), Envelope(i))).ToList();
        foreach (var tombstone in tombstones.AsEnumerable().Reverse())
        {
            await store.AddTombstoneAsync(tombstone, default);
        }
        var held = (await store.GetInventoryAsync(Mailbox, default)).TombstoneIds.Select(Convert.ToHexString).Order();
        Assert.Equal(tombstones.Skip(2).Select(t => Convert.ToHexString(t.Id)).Order(), held);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(1), default)).Status);
        Assert.Equal(StoreStatus.Duplicate, (await store.AddEnvelopeAsync(Envelope(5), default)).Status);
    }

    [Fact]
    public async Task The_higher_policy_sequence_wins_and_only_its_tokens_are_accepted()
    {
        var store = await OpenAsync();
        var later = Time.GetUtcNow() + TimeSpan.FromDays(30);
        var otherToken = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(StoreStatus.UnknownToken, (await store.AddEnvelopeAsync(Envelope(1, token: Token), default)).Status);

        Assert.Equal(StoreStatus.Stored, (await store.SetPolicyAsync(Policy(2, later, Token), default)).Status);
        Assert.Equal(StoreStatus.Refused, (await store.SetPolicyAsync(Policy(1, later, otherToken), default)).Status);
        var conflicting = await store.SetPolicyAsync(Policy(2, later, otherToken), default);
        Assert.Equal("a policy with sequence 2 is held; send a higher sequence", conflicting.Reason);
        var outcome = await store.AddEnvelopeAsync(Envelope(2, token: otherToken), default);
        Assert.Equal(StoreStatus.UnknownToken, outcome.Status);
        Assert.Contains("token", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(3, token: Token), default)).Status);

        // The same policy again renews it.
        Assert.Equal(StoreStatus.Stored, (await store.SetPolicyAsync(Policy(2, later + TimeSpan.FromDays(5), Token), default)).Status);
        Assert.Equal(later + TimeSpan.FromDays(5), (await store.GetPolicyAsync(Mailbox, default))!.ExpiresAt);

        Assert.Equal(StoreStatus.Stored, (await store.SetPolicyAsync(Policy(3, later, otherToken), default)).Status);
        var policy = await store.GetPolicyAsync(Mailbox, default);
        Assert.Equal(3UL, policy!.Sequence);
        Assert.Equal([SHA256.HashData(otherToken)], policy.TokenHashes);
        Assert.Equal(3UL, (await store.GetInventoryAsync(Mailbox, default)).PolicySequence);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(4, token: otherToken), default)).Status);
        Assert.Equal(StoreStatus.UnknownToken, (await store.AddEnvelopeAsync(Envelope(5, token: Token), default)).Status);
    }

    [Fact]
    public async Task Stamped_deposits_are_bounded_per_depositor_and_per_mailbox()
    {
        var store = await OpenAsync();
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(1, "a"), default)).Status);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(2, "a"), default)).Status);
        var refused = await store.AddEnvelopeAsync(Envelope(3, "a"), default);
        Assert.Equal(StoreStatus.Refused, refused.Status);
        Assert.Contains("depositor", refused.Reason, StringComparison.Ordinal);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(4, "b"), default)).Status);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(5, "c"), default)).Status);
        refused = await store.AddEnvelopeAsync(Envelope(6, "d"), default);
        Assert.Equal(StoreStatus.Refused, refused.Status);
        Assert.Contains("stamped envelopes held for this mailbox", refused.Reason, StringComparison.Ordinal);
        // Another mailbox has its own quota.
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(7, "a", mailbox: OtherMailbox), default)).Status);
        Assert.Equal(4, (await store.GetInventoryAsync(Mailbox, default)).EnvelopeIds.Count);
    }

    [Fact]
    public async Task Token_deposits_are_bounded_per_token_and_every_deposit_by_the_mailbox_bounds()
    {
        var store = await OpenAsync();
        var secondToken = RandomNumberGenerator.GetBytes(32);
        await store.SetPolicyAsync(Policy(1, Time.GetUtcNow() + TimeSpan.FromDays(30), Token, secondToken), default);
        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(i, token: Token), default)).Status);
        }
        var refused = await store.AddEnvelopeAsync(Envelope(4, token: Token), default);
        Assert.Contains("token", refused.Reason, StringComparison.Ordinal);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(5, token: secondToken), default)).Status);
        // 4 envelopes of 100 bytes are held; the mailbox takes 1,000 bytes.
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(6, token: secondToken, size: 500), default)).Status);
        refused = await store.AddEnvelopeAsync(Envelope(7, token: secondToken, size: 200), default);
        Assert.Equal(StoreStatus.Refused, refused.Status);
        Assert.Contains("bytes held", refused.Reason, StringComparison.Ordinal);
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(8, token: secondToken, size: 10), default)).Status);
    }

    [Fact]
    public async Task A_mailbox_holds_at_most_its_envelope_count_and_the_store_its_total()
    {
        var store = await OpenAsync(new MailboxOptions { MaxEnvelopesPerMailbox = 3, MaxStoreBytes = 450 });
        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(i, $"d{i}"), default)).Status);
        }
        Assert.Contains("envelopes held", (await store.AddEnvelopeAsync(Envelope(4, "d4"), default)).Reason, StringComparison.Ordinal);
        await store.AddEnvelopeAsync(Envelope(5, mailbox: OtherMailbox), default);
        Assert.Contains("store is full", (await store.AddEnvelopeAsync(Envelope(6, mailbox: OtherMailbox), default)).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Envelopes_expire_after_their_time_and_free_their_quota()
    {
        var store = await OpenAsync();
        await store.AddEnvelopeAsync(Envelope(1, "a"), default);
        await store.AddEnvelopeAsync(Envelope(2, "a"), default);
        Time.Advance(TimeSpan.FromDays(29));
        Assert.Equal(2, (await store.GetEnvelopesAsync(Mailbox, 0, 10, 1 << 20, default)).Envelopes.Count);
        Time.Advance(TimeSpan.FromDays(1));
        Assert.Empty((await store.GetEnvelopesAsync(Mailbox, 0, 10, 1 << 20, default)).Envelopes);
        Assert.Empty((await store.GetInventoryAsync(Mailbox, default)).EnvelopeIds);
        Assert.Empty(await store.GetEnvelopesByIdAsync(Mailbox, [Envelope(1).EnvelopeId], default));
        // Expired envelopes no longer count against the depositor's quota.
        Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(Envelope(3, "a"), default)).Status);
        Time.Advance(TimeSpan.FromDays(30));
        Assert.Equal(1, await store.RemoveExpiredAsync(default));
        Assert.Empty(await store.GetMailboxIdsAsync(default));
    }

    [Fact]
    public async Task A_policy_expires_and_its_tokens_with_it()
    {
        var store = await OpenAsync();
        await store.SetPolicyAsync(Policy(1, Time.GetUtcNow() + TimeSpan.FromDays(1), Token), default);
        Time.Advance(TimeSpan.FromDays(1));
        Assert.Null(await store.GetPolicyAsync(Mailbox, default));
        Assert.Equal(StoreStatus.UnknownToken, (await store.AddEnvelopeAsync(Envelope(1, token: Token), default)).Status);
        // An expired policy is no obstacle to a lower sequence.
        Assert.Equal(StoreStatus.Stored, (await store.SetPolicyAsync(Policy(0, Time.GetUtcNow() + TimeSpan.FromDays(1), Token), default)).Status);
    }

    [Fact]
    public async Task Each_prekey_is_handed_out_once_and_uploads_are_bounded_and_never_replayed()
    {
        var store = await OpenAsync();
        var account = IdentityKey.Generate();
        var prekeys = Enumerable.Range(1, 7).Select(i => SignedOneTimePrekey.Create(account, (uint)i, RandomNumberGenerator.GetBytes(32))).ToList();
        var expires = Time.GetUtcNow() + TimeSpan.FromDays(30);
        var uploaded = Time.GetUtcNow();

        var outcome = await store.AddPrekeysAsync(Mailbox, uploaded, prekeys, expires, default);
        Assert.Equal((5, 5, (string?)null), (outcome.Accepted, outcome.Held, outcome.Refusal));
        Assert.NotNull((await store.AddPrekeysAsync(Mailbox, uploaded, prekeys, expires, default)).Refusal);

        var taken = new List<SignedOneTimePrekey>();
        while (await store.TakePrekeyAsync(Mailbox, default) is { } prekey)
        {
            taken.Add(prekey);
        }
        Assert.Equal([1u, 2u, 3u, 4u, 5u], taken.Select(p => p.Id).Order());
        Assert.All(taken, p => Assert.True(p.Verify(account.PublicKey)));
        Assert.Null(await store.TakePrekeyAsync(OtherMailbox, default));

        // A later upload is accepted; ids already held are skipped.
        outcome = await store.AddPrekeysAsync(Mailbox, uploaded.AddMilliseconds(1), [prekeys[5], prekeys[5], prekeys[6]], expires, default);
        Assert.Equal((2, 2), (outcome.Accepted, outcome.Held));
        Time.Advance(TimeSpan.FromDays(30));
        Assert.Null(await store.TakePrekeyAsync(Mailbox, default));
    }
}

public sealed class EphemeralMailboxStoreTests : MailboxStoreContractTests
{
    protected override Task<IMailboxStore> CreateAsync(MailboxOptions options) => Task.FromResult<IMailboxStore>(new EphemeralMailboxStore(options, Time));
}

public sealed class SqliteMailboxStoreTests : MailboxStoreContractTests
{
    private readonly string _folder = Directory.CreateTempSubdirectory("parley-mailbox-").FullName;

    private string DatabasePath => Path.Combine(_folder, SqliteMailboxStore.FileName);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    protected override async Task<IMailboxStore> CreateAsync(MailboxOptions options) => await SqliteMailboxStore.OpenAsync(DatabasePath, options, Time, default);

    [Fact]
    public async Task Everything_survives_reopening_and_the_store_bound_still_holds()
    {
        var options = new MailboxOptions { MaxStoreBytes = 1_000 };
        var account = IdentityKey.Generate();
        var envelope = Envelope(1, size: 600);
        var tombstone = Tombstone(1, TimeSpan.FromDays(30), Envelope(2));
        var policy = Policy(7, Time.GetUtcNow() + TimeSpan.FromDays(30), RandomNumberGenerator.GetBytes(32));
        await using (var store = await SqliteMailboxStore.OpenAsync(DatabasePath, options, Time, default))
        {
            Assert.Equal(StoreStatus.Stored, (await store.AddEnvelopeAsync(envelope, default)).Status);
            await store.AddTombstoneAsync(tombstone, default);
            await store.SetPolicyAsync(policy, default);
            await store.AddPrekeysAsync(envelope.MailboxId, Time.GetUtcNow(), [SignedOneTimePrekey.Create(account, 9, new byte[32])], Time.GetUtcNow() + TimeSpan.FromDays(1), default);
        }
        await using (var store = await SqliteMailboxStore.OpenAsync(DatabasePath, options, Time, default))
        {
            var held = Assert.Single((await store.GetEnvelopesAsync(envelope.MailboxId, 0, 10, 1 << 20, default)).Envelopes);
            Assert.Equal(envelope.Envelope, held.Envelope);
            Assert.Equal(envelope.ExpiresAt, held.ExpiresAt);
            var inventory = await store.GetInventoryAsync(envelope.MailboxId, default);
            Assert.Equal([tombstone.Id], inventory.TombstoneIds);
            Assert.Equal(7UL, inventory.PolicySequence);
            Assert.Equal(StoreStatus.Duplicate, (await store.AddEnvelopeAsync(Envelope(2), default)).Status);
            // 600 + 80 + 50 + 100 bytes held: another 600 would overrun the 1,000-byte store.
            Assert.Contains("store is full", (await store.AddEnvelopeAsync(Envelope(3, size: 600), default)).Reason, StringComparison.Ordinal);
            Assert.Equal(9u, (await store.TakePrekeyAsync(envelope.MailboxId, default))!.Id);
        }
    }
}
