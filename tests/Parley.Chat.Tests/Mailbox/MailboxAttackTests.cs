using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Chat.Mailbox;
using Parley.Chat.Mailbox.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Chat.Tests.Mailbox;

/// <summary>Requests from peers that are not the owner, not accepted, or not well behaved: each refused with a reason, nothing stored or deleted.</summary>
public sealed class MailboxAttackTests : IAsyncLifetime
{
    private MailboxTestNetwork _network = null!;
    private readonly IdentityKey _owner = IdentityKey.Generate();
    private readonly IdentityKey _attacker = IdentityKey.Generate();

    private byte[] MailboxId => MailboxAddress.Of(_owner.PublicKey);

    public async Task InitializeAsync() => _network = await MailboxTestNetwork.StartAsync(25);

    public async Task DisposeAsync() => await _network.DisposeAsync();

    [Fact]
    public async Task A_fetch_not_signed_by_the_owner_or_out_of_date_is_refused()
    {
        await DepositAsync(RandomNumberGenerator.GetBytes(16));
        var target = _network.ClosestTo(MailboxId, 1)[0];
        var forged = MailboxRequests.Fetch(_owner, Now(), ByteString.Empty);
        forged.Signature = ByteString.CopyFrom(_attacker.Sign(MailboxSigning.Fetch(forged.OwnerKey.Span, forged.TimestampUnixMs, [])));
        var answer = await _network.RequestAsync(_network.CreateDepositHost(), target.PeerId, new Request { Fetch = forged });
        Assert.Equal(MailboxRequests.NotSignedByOwner, answer.Error);
        Assert.Null(answer.Fetch);

        var replayed = MailboxRequests.Fetch(_owner, Now() - (long)TimeSpan.FromHours(1).TotalMilliseconds, ByteString.Empty);
        answer = await _network.RequestAsync(_network.CreateDepositHost(), target.PeerId, new Request { Fetch = replayed });
        Assert.Contains("timestamp", answer.Error, StringComparison.Ordinal);
        Assert.Null(answer.Fetch);
    }

    [Fact]
    public async Task A_delete_not_signed_by_the_owner_is_refused_and_deletes_nothing()
    {
        var id = RandomNumberGenerator.GetBytes(16);
        await DepositAsync(id);
        var forged = MailboxRequests.Delete(_attacker, Now(), [id]);
        forged.OwnerKey = ByteString.CopyFrom(_owner.PublicKey.ToProtobuf());
        var attacker = _network.CreateDepositHost();
        foreach (var node in _network.ClosestTo(MailboxId, 20))
        {
            var answer = await _network.RequestAsync(attacker, node.PeerId, new Request { Delete = forged });
            Assert.Equal(MailboxRequests.NotSignedByOwner, answer.Error);
            Assert.Contains(Convert.ToHexString(id), await MailboxNetworkTests.HeldByAsync(node, MailboxId));
            Assert.Empty((await node.Store.GetInventoryAsync(MailboxId, default)).TombstoneIds);
        }
        Assert.Single((await _network.Client(_network.Nodes[4]).FetchAsync(_owner, default)).Envelopes);
    }

    [Fact]
    public async Task A_policy_not_signed_by_the_owner_is_refused()
    {
        var forged = MailboxRequests.Policy(_attacker, 5, [SHA256.HashData(new byte[32])]);
        forged.OwnerKey = ByteString.CopyFrom(_owner.PublicKey.ToProtobuf());
        var attacker = _network.CreateDepositHost();
        foreach (var node in _network.ClosestTo(MailboxId, 20))
        {
            Assert.Equal(MailboxRequests.NotSignedByOwner, (await _network.RequestAsync(attacker, node.PeerId, new Request { SetPolicy = forged })).Error);
            Assert.Null(await node.Store.GetPolicyAsync(MailboxId, default));
        }
    }

    [Fact]
    public async Task A_deposit_with_a_bad_stamp_or_an_unknown_token_is_refused_and_nothing_is_stored()
    {
        var id = RandomNumberGenerator.GetBytes(16);
        var envelope = RandomNumberGenerator.GetBytes(100);
        var challenge = MailboxRequests.StampChallenge(MailboxId, id, envelope);
        var badNonce = Enumerable.Range(0, 1000).Select(n => (ulong)n).First(n => !ProofOfWork.Verify(challenge, n, _network.Options.DepositDifficulty));
        var deposit = new DepositRequest
        {
            MailboxId = ByteString.CopyFrom(MailboxId),
            EnvelopeId = ByteString.CopyFrom(id),
            Envelope = ByteString.CopyFrom(envelope),
            Authorization = new Authorization { StampNonce = badNonce },
        };
        var attacker = _network.CreateDepositHost();
        foreach (var node in _network.ClosestTo(MailboxId, 20))
        {
            var answer = await _network.RequestAsync(attacker, node.PeerId, new Request { Deposit = deposit });
            Assert.Equal(DepositResponse.Types.Status.Refused, answer.Deposit.Status);
            Assert.Contains("invalid proof-of-work stamp", answer.Deposit.Reason, StringComparison.Ordinal);
        }
        deposit.Authorization = null;
        var unauthorised = await _network.RequestAsync(attacker, _network.ClosestTo(MailboxId, 1)[0].PeerId, new Request { Deposit = deposit });
        Assert.Contains("no authorization", unauthorised.Deposit.Reason, StringComparison.Ordinal);

        deposit.Authorization = new Authorization { Token = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(32)) };
        foreach (var node in _network.ClosestTo(MailboxId, 20))
        {
            var answer = await _network.RequestAsync(attacker, node.PeerId, new Request { Deposit = deposit });
            Assert.Equal(DepositResponse.Types.Status.UnknownToken, answer.Deposit.Status);
            Assert.Contains("token not accepted by the mailbox owner", answer.Deposit.Reason, StringComparison.Ordinal);
        }
        foreach (var node in _network.Nodes)
        {
            Assert.Empty(await MailboxNetworkTests.HeldByAsync(node, MailboxId));
        }

        // The client meets an unknown token (a node new to the mailbox has no policy yet) by paying with a stamp instead.
        var result = await _network.Client(_network.Nodes[2], attacker).DepositAsync(_owner.PublicKey, id, envelope, new DepositAuthorization.Token(RandomNumberGenerator.GetBytes(32)), default);
        Assert.Equal((20, 20), (result.Stored, result.Attempted));
    }

    [Fact]
    public async Task A_flood_of_stamped_deposits_from_one_unaccepted_sender_stops_at_the_quota()
    {
        var flooder = _network.Client(_network.Nodes[3], _network.CreateDepositHost());
        var bound = _network.Options.MaxStampedPerDepositor;
        for (var i = 0; i < bound + 10; i++)
        {
            var result = await flooder.DepositAsync(_owner.PublicKey, RandomNumberGenerator.GetBytes(16), RandomNumberGenerator.GetBytes(200), new DepositAuthorization.Stamp(), default);
            if (i >= bound)
            {
                Assert.Equal(0, result.Stored);
                Assert.All(result.Refusals, r => Assert.Contains($"{bound} stamped envelopes held from this depositor", r, StringComparison.Ordinal));
            }
        }
        foreach (var node in _network.ClosestTo(MailboxId, 20))
        {
            Assert.Equal(bound, (await MailboxNetworkTests.HeldByAsync(node, MailboxId)).Count);
        }
        // Another sender still gets through.
        var other = _network.Client(_network.Nodes[4], _network.CreateDepositHost());
        Assert.Equal(20, (await other.DepositAsync(_owner.PublicKey, RandomNumberGenerator.GetBytes(16), [1], new DepositAuthorization.Stamp(), default)).Stored);
    }

    [Fact]
    public async Task Malformed_requests_get_an_error_and_the_node_keeps_serving()
    {
        var target = _network.ClosestTo(MailboxId, 1)[0];
        var attacker = _network.CreateDepositHost();
        // A deposit whose body is not protobuf; one whose authorization claims 0x7fffffff bytes and holds a field
        // claiming 1.5 GiB (Google.Protobuf 3.25's limit overflowed on it: it allocated 1.5 GiB and threw
        // ArgumentOutOfRangeException); garbage; a request with two operations; an empty frame.
        byte[][] frames =
        [
            [0x0A, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            [0x0A, 0x0C, 0x22, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x7A, 0x80, 0x80, 0x80, 0x80, 0x06],
            Enumerable.Range(0, 300).Select(i => (byte)((i * 37) + 7)).ToArray(),
            [0x0A, 0x00, 0x12, 0x00],
            [],
        ];
        foreach (var frame in frames)
        {
            var error = await SendRawAsync(attacker, target.PeerId, [.. Varint.Encode((ulong)frame.Length), .. frame]);
            Assert.StartsWith("malformed request", error, StringComparison.Ordinal);
        }
        var oversized = await SendRawAsync(attacker, target.PeerId, [.. Varint.Encode(200_005), 0x0A, .. Varint.Encode(200_000), .. new byte[1000]]);
        Assert.Equal("deposit request of 200000 bytes exceeds the 131072-byte limit", oversized);

        var id = RandomNumberGenerator.GetBytes(16);
        Assert.Equal(20, (await DepositAsync(id)).Stored);
        Assert.Contains(Convert.ToHexString(id), await MailboxNetworkTests.HeldByAsync(target, MailboxId));
    }

    [Fact]
    public async Task Replicated_items_are_checked_like_deposits_whatever_times_they_claim()
    {
        var target = _network.ClosestTo(MailboxId, 1)[0];
        var id = RandomNumberGenerator.GetBytes(16);
        var envelope = RandomNumberGenerator.GetBytes(10);
        var nonce = ProofOfWork.Solve(MailboxRequests.StampChallenge(MailboxId, id, envelope), _network.Options.DepositDifficulty, default);
        ReplicatedEnvelope Replicated(long storedAt, long expires, ulong stamp, string depositor = "12D3KooWhoever") => new()
        {
            EnvelopeId = ByteString.CopyFrom(id),
            Envelope = ByteString.CopyFrom(envelope),
            Authorization = new Authorization { StampNonce = stamp },
            StoredAtUnixMs = storedAt,
            ExpiresUnixMs = expires,
            Depositor = depositor,
        };
        var replicate = new ReplicateRequest
        {
            MailboxId = ByteString.CopyFrom(MailboxId),
            Tombstones = { MailboxRequests.Delete(_owner, long.MinValue, [RandomNumberGenerator.GetBytes(16)]), MailboxRequests.Delete(_attacker, Now(), [id]) },
            Envelopes =
            {
                Replicated(long.MaxValue, long.MaxValue, nonce),
                Replicated(Now(), long.MinValue, nonce),
                Replicated(long.MinValue, long.MaxValue, nonce),
                Replicated(Now(), long.MaxValue, nonce ^ 1),
                Replicated(Now(), long.MaxValue, nonce, depositor: ""),
            },
        };
        var answer = await _network.RequestAsync(_network.CreateDepositHost(), target.PeerId, new Request { Replicate = replicate });
        Assert.Equal(0u, answer.Replicate.Stored);
        Assert.Contains(answer.Replicate.Refusals, r => r.Contains("tombstone for another mailbox", StringComparison.Ordinal));
        Assert.Contains(answer.Replicate.Refusals, r => r.Contains("invalid proof-of-work stamp", StringComparison.Ordinal));
        Assert.Empty(await MailboxNetworkTests.HeldByAsync(target, MailboxId));

        // The same envelope with honest times is taken, and keeps the expiry its first deposit gave it.
        var expires = DateTimeOffset.UtcNow.AddDays(3).ToUnixTimeMilliseconds();
        replicate = new ReplicateRequest { MailboxId = ByteString.CopyFrom(MailboxId), Envelopes = { Replicated(Now() - (long)TimeSpan.FromDays(27).TotalMilliseconds, expires, nonce) } };
        Assert.Equal(1u, (await _network.RequestAsync(_network.CreateDepositHost(), target.PeerId, new Request { Replicate = replicate })).Replicate.Stored);
        var held = Assert.Single(await target.Store.GetEnvelopesByIdAsync(MailboxId, [id], default));
        Assert.Equal(expires, held.ExpiresAt.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task One_time_prekeys_not_signed_by_the_account_are_refused_by_nodes_and_by_the_client()
    {
        var ownerNode = _network.Nodes[0];
        var target = _network.ClosestTo(MailboxId, 1)[0];
        var forged = SignedOneTimePrekey.Create(_attacker, 1, RandomNumberGenerator.GetBytes(32));
        var upload = MailboxRequests.Prekeys(_owner, target.PeerId, Now(), [SignedOneTimePrekey.Create(_owner, 2, RandomNumberGenerator.GetBytes(32)), forged]);
        var answer = await _network.RequestAsync(ownerNode.Host, target.PeerId, new Request { UploadPrekeys = upload });
        Assert.Equal("prekey 1 is not signed by the account", answer.Error);
        // A slice signed for one node is no good at another.
        var other = _network.ClosestTo(MailboxId, 2)[1];
        var replayed = MailboxRequests.Prekeys(_owner, target.PeerId, Now(), [SignedOneTimePrekey.Create(_owner, 3, RandomNumberGenerator.GetBytes(32))]);
        Assert.Equal("this upload is for another node", (await _network.RequestAsync(ownerNode.Host, other.PeerId, new Request { UploadPrekeys = replayed })).Error);

        // Nodes that hand out forged prekeys (put straight into their stores): the client takes none of them.
        foreach (var node in _network.Nodes)
        {
            await node.Store.AddPrekeysAsync(MailboxId, DateTimeOffset.UtcNow, [forged], DateTimeOffset.UtcNow.AddDays(1), default);
        }
        var claimer = _network.Client(_network.Nodes[7], _network.CreateDepositHost());
        Assert.Null(await claimer.ClaimOneTimePrekeyAsync(_owner.PublicKey, default));
        var genuine = SignedOneTimePrekey.Create(_owner, 9, RandomNumberGenerator.GetBytes(32));
        Assert.Equal(1, await _network.Client(ownerNode).UploadOneTimePrekeysAsync(_owner, [genuine], default));
        Assert.Equal(9u, (await claimer.ClaimOneTimePrekeyAsync(_owner.PublicKey, default))?.Id);
    }

    [Fact]
    public async Task Prekey_claims_are_rate_limited_per_requesting_peer()
    {
        var target = _network.ClosestTo(MailboxId, 1)[0];
        var prekeys = Enumerable.Range(1, 15).Select(i => SignedOneTimePrekey.Create(_owner, (uint)i, RandomNumberGenerator.GetBytes(32))).ToList();
        var upload = MailboxRequests.Prekeys(_owner, target.PeerId, Now(), prekeys);
        Assert.Equal(15u, (await _network.RequestAsync(_network.Nodes[0].Host, target.PeerId, new Request { UploadPrekeys = upload })).UploadPrekeys.Held);
        var greedy = _network.CreateDepositHost();
        var claim = new Request { ClaimPrekey = new ClaimPrekeyRequest { MailboxId = ByteString.CopyFrom(MailboxId) } };
        for (var i = 0; i < _network.Options.MaxPrekeyClaimsPerPeer; i++)
        {
            Assert.NotNull((await _network.RequestAsync(greedy, target.PeerId, claim)).ClaimPrekey.Prekey);
        }
        Assert.Contains("too many prekey claims", (await _network.RequestAsync(greedy, target.PeerId, claim)).Error, StringComparison.Ordinal);
        Assert.NotNull((await _network.RequestAsync(_network.CreateDepositHost(), target.PeerId, claim)).ClaimPrekey.Prekey);
    }

    private async Task<DepositResult> DepositAsync(byte[] id) =>
        await _network.Client(_network.Nodes[1], _network.CreateDepositHost()).DepositAsync(_owner.PublicKey, id, RandomNumberGenerator.GetBytes(100), new DepositAuthorization.Stamp(), default);

    internal static async Task<string> SendRawAsync(IPeerNetwork from, PeerId to, byte[] bytes)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var stream = await from.OpenStreamAsync(to, [MailboxOptions.DefaultProtocolId], timeout.Token);
        await stream.WriteAsync(bytes, timeout.Token);
        var answer = await LengthPrefixed.ReadMessageAsync(stream, 1 << 20, timeout.Token);
        return Response.Parser.ParseFrom(answer!).Error;
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}

/// <summary>A claimed 100 MB request is refused at its length prefix: memory does not grow by anything like it.</summary>
[Collection(nameof(MailboxMeasuresMemory))]
public sealed class MailboxHugeRequestTests
{
    [Fact]
    public async Task A_request_claiming_100_MB_is_refused_at_the_length_prefix()
    {
        await using var network = await MailboxTestNetwork.StartAsync(5);
        var target = network.Nodes[2];
        var attacker = network.CreateDepositHost();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < 5; i++)
        {
            var error = await MailboxAttackTests.SendRawAsync(attacker, target.PeerId, [.. Varint.Encode(100_000_000), 0x0A, .. Varint.Encode(99_999_990), .. new byte[4096]]);
            Assert.Equal("request of 100000000 bytes exceeds the 1048576-byte limit", error);
        }
        Assert.True(GC.GetTotalMemory(forceFullCollection: true) - before < 32L * 1024 * 1024, "the claimed size was allocated");
        var owner = IdentityKey.Generate();
        var result = await network.Client(network.Nodes[0], network.CreateDepositHost()).DepositAsync(owner.PublicKey, RandomNumberGenerator.GetBytes(16), [1, 2], new DepositAuthorization.Stamp(), default);
        Assert.Equal(5, result.Stored);
    }
}

[CollectionDefinition(nameof(MailboxMeasuresMemory), DisableParallelization = true)]
public sealed class MailboxMeasuresMemory;
