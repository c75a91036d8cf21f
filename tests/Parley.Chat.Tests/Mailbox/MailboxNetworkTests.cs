using System.Security.Cryptography;
using Parley.Chat.Mailbox;
using Parley.Core.Identity;

namespace Parley.Chat.Tests.Mailbox;

/// <summary>The mailbox service and client on an in-memory DHT of 25 nodes.</summary>
public sealed class MailboxNetworkTests
{
    private const int Nodes = 25;

    [Fact]
    public async Task Deposits_with_a_stamp_and_a_token_are_fetched_through_another_node_and_deleted_by_the_owner()
    {
        await using var network = await MailboxTestNetwork.StartAsync(Nodes);
        var owner = IdentityKey.Generate();
        var mailboxId = MailboxAddress.Of(owner.PublicKey);
        var ownerClient = network.Client(network.Nodes[0]);
        var sender = network.Client(network.Nodes[5], network.CreateDepositHost());
        var token = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(20, await ownerClient.SetPolicyAsync(owner, 1, [SHA256.HashData(token)], default));
        // A lower sequence (an old policy replayed, or one from a device that is behind) takes nowhere.
        Assert.Equal(0, await ownerClient.SetPolicyAsync(owner, 0, [], default));

        var (stampedId, stamped) = (RandomNumberGenerator.GetBytes(16), RandomNumberGenerator.GetBytes(1000));
        var (tokenId, withToken) = (RandomNumberGenerator.GetBytes(16), RandomNumberGenerator.GetBytes(64 * 1024));
        var result = await sender.DepositAsync(owner.PublicKey, stampedId, stamped, new DepositAuthorization.Stamp(), default);
        Assert.Empty(result.Refusals);
        Assert.Equal((20, 20), (result.Stored, result.Attempted));
        result = await sender.DepositAsync(owner.PublicKey, tokenId, withToken, new DepositAuthorization.Token(token), default);
        Assert.Equal((20, 20), (result.Stored, result.Attempted));
        // A retry is answered as a duplicate, which counts as stored.
        Assert.Equal(20, (await sender.DepositAsync(owner.PublicKey, tokenId, withToken, new DepositAuthorization.Token(token), default)).Stored);
        foreach (var node in network.ClosestTo(mailboxId, 20))
        {
            Assert.Equal(2, (await HeldByAsync(node, mailboxId)).Count);
        }

        // The owner fetches from another device's node.
        var fetched = await network.Client(network.Nodes[17]).FetchAsync(owner, default);
        Assert.Equal((20, 20), (fetched.NodesAnswered, fetched.NodesAsked));
        Assert.Equal(2, fetched.Envelopes.Count);
        Assert.Equal(stamped, fetched.Envelopes.Single(e => e.EnvelopeId.AsSpan().SequenceEqual(stampedId)).Envelope);
        Assert.Equal(withToken, fetched.Envelopes.Single(e => e.EnvelopeId.AsSpan().SequenceEqual(tokenId)).Envelope);
        Assert.All(fetched.Envelopes, e => Assert.InRange(e.StoredAt, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow));
        // Only the first three nodes send what they hold; the other seventeen hold nothing the owner lacks.
        Assert.Equal(3 * 2, fetched.CopiesReceived);

        Assert.Equal(20, await ownerClient.DeleteAsync(owner, [stampedId], default));
        var left = Assert.Single((await ownerClient.FetchAsync(owner, default)).Envelopes);
        Assert.Equal(tokenId, left.EnvelopeId);
        await AssertHeldByNoneAsync(network.Nodes, mailboxId, stampedId);
        // The envelope stays deleted when the sender's outbox retries it.
        await sender.DepositAsync(owner.PublicKey, stampedId, stamped, new DepositAuthorization.Stamp(), default);
        Assert.Single((await ownerClient.FetchAsync(owner, default)).Envelopes);
    }

    [Fact]
    public async Task A_full_mailbox_is_fetched_page_by_page()
    {
        var options = new MailboxOptions { RunMaintenance = false, DepositDifficulty = 4, MaxFetchPageEnvelopes = 7, MaxStampedPerDepositor = 40 };
        await using var network = await MailboxTestNetwork.StartAsync(Nodes, options);
        var owner = IdentityKey.Generate();
        var sender = network.Client(network.Nodes[3], network.CreateDepositHost());
        var ids = Enumerable.Range(0, 30).Select(_ => RandomNumberGenerator.GetBytes(16)).ToList();
        foreach (var id in ids)
        {
            Assert.Equal(20, (await sender.DepositAsync(owner.PublicKey, id, id, new DepositAuthorization.Stamp(), default)).Stored);
        }
        var fetched = await network.Client(network.Nodes[9]).FetchAsync(owner, default);
        Assert.Equal(ids.Select(Convert.ToHexString).Order(), fetched.Envelopes.Select(e => Convert.ToHexString(e.EnvelopeId)).Order());
        Assert.Equal(20, fetched.NodesAnswered);
    }

    [Fact]
    public async Task An_envelope_only_one_far_node_holds_is_fetched_and_the_others_come_from_the_first_nodes_only()
    {
        await using var network = await MailboxTestNetwork.StartAsync(Nodes);
        var owner = IdentityKey.Generate();
        var mailboxId = MailboxAddress.Of(owner.PublicKey);
        var sender = network.Client(network.Nodes[2], network.CreateDepositHost());
        var everywhere = Enumerable.Range(0, 5).Select(_ => RandomNumberGenerator.GetBytes(16)).ToList();
        foreach (var id in everywhere)
        {
            Assert.Equal(20, (await sender.DepositAsync(owner.PublicKey, id, id, new DepositAuthorization.Stamp(), default)).Stored);
        }
        // One envelope reached only the 15th closest node (the others were unreachable when it was deposited).
        var onlyOnce = RandomNumberGenerator.GetBytes(16);
        var now = DateTimeOffset.UtcNow;
        var closest = network.ClosestTo(mailboxId, 20);
        await closest[14].Store.AddEnvelopeAsync(new HeldEnvelope(mailboxId, onlyOnce, onlyOnce, now, now.AddDays(30), null, 0, "test"), default);

        // Fetched from a node that is not a mailbox node itself, so the 20 it asks are exactly these.
        var fetched = await network.Client(network.Nodes.First(n => !closest.Contains(n))).FetchAsync(owner, default);

        Assert.Equal(everywhere.Append(onlyOnce).Select(Convert.ToHexString).Order(), fetched.Envelopes.Select(e => Convert.ToHexString(e.EnvelopeId)).Order());
        Assert.Equal((3 * everywhere.Count) + 1, fetched.CopiesReceived);
    }

    [Fact]
    public async Task A_fetch_naming_too_many_envelopes_already_had_is_refused()
    {
        await using var network = await MailboxTestNetwork.StartAsync(Nodes);
        var owner = IdentityKey.Generate();
        var fetch = MailboxRequests.Fetch(owner, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), Google.Protobuf.ByteString.Empty);
        fetch.HaveIds.AddRange(Enumerable.Range(0, network.Options.MaxFetchHaveIds + 1).Select(_ => Google.Protobuf.ByteString.CopyFrom(RandomNumberGenerator.GetBytes(16))));

        var response = await network.RequestAsync(network.CreateDepositHost(), network.Nodes[4].PeerId, new Parley.Chat.Mailbox.Protos.Request { Fetch = fetch });

        Assert.Contains("at most", response.Error);
    }

    [Fact]
    public async Task One_time_prekeys_are_each_handed_out_once()
    {
        await using var network = await MailboxTestNetwork.StartAsync(Nodes);
        var owner = IdentityKey.Generate();
        var prekeys = Enumerable.Range(1, 40).Select(i => SignedOneTimePrekey.Create(owner, (uint)i, RandomNumberGenerator.GetBytes(32))).ToList();
        Assert.Equal(40, await network.Client(network.Nodes[0]).UploadOneTimePrekeysAsync(owner, prekeys, default));

        var claimer = network.Client(network.Nodes[11], network.CreateDepositHost());
        var claimed = new List<SignedOneTimePrekey>();
        while (await claimer.ClaimOneTimePrekeyAsync(owner.PublicKey, default) is { } prekey)
        {
            claimed.Add(prekey);
            Assert.True(claimed.Count <= 40, "a prekey was handed out twice");
        }
        Assert.Equal(prekeys.Select(p => p.Id).Order(), claimed.Select(p => p.Id).Order());
        Assert.All(claimed, p => Assert.Equal(prekeys[(int)p.Id - 1].PublicKey, p.PublicKey));
    }

    [Fact]
    public async Task Envelopes_survive_the_loss_of_30_percent_of_the_nodes_through_replication()
    {
        await using var network = await MailboxTestNetwork.StartAsync(Nodes);
        var owner = IdentityKey.Generate();
        var mailboxId = MailboxAddress.Of(owner.PublicKey);
        var token = RandomNumberGenerator.GetBytes(32);
        await network.Client(network.Nodes[0]).SetPolicyAsync(owner, 1, [SHA256.HashData(token)], default);
        var sender = network.Client(network.Nodes[1], network.CreateDepositHost());
        var ids = new List<byte[]>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(RandomNumberGenerator.GetBytes(16));
            DepositAuthorization authorization = i % 2 == 0 ? new DepositAuthorization.Stamp() : new DepositAuthorization.Token(token);
            Assert.Equal(20, (await sender.DepositAsync(owner.PublicKey, ids[^1], RandomNumberGenerator.GetBytes(500), authorization, default)).Stored);
        }

        // 8 of 25 nodes fail, 6 of them mailbox nodes (never the last three, which the fresh nodes bootstrap through).
        var holders = network.ClosestTo(mailboxId, 20);
        var failed = holders.Where(n => network.Nodes.IndexOf(n) is > 1 and < Nodes - 3).Take(6)
            .Concat(network.Nodes.Except(holders).Where(n => network.Nodes.IndexOf(n) < Nodes - 3).Take(2))
            .ToList();
        Assert.Equal(8, failed.Count);
        foreach (var node in failed)
        {
            await MailboxTestNetwork.StopAsync(node);
        }
        var fresh = new List<MailboxNode>();
        for (var i = 0; i < 8; i++)
        {
            fresh.Add(await network.AddNodeAsync());
        }
        foreach (var node in network.Live.Except(fresh).ToList())
        {
            await node.Service.RunMaintenanceOnceAsync(default);
        }

        var expected = ids.Select(Convert.ToHexString).Order().ToList();
        var newHolders = network.ClosestTo(mailboxId, 20).Intersect(fresh).ToList();
        Assert.NotEmpty(newHolders);
        foreach (var node in newHolders)
        {
            Assert.Equal(expected, (await HeldByAsync(node, mailboxId)).Order());
            Assert.Equal(1UL, (await node.Store.GetInventoryAsync(mailboxId, default)).PolicySequence);
        }
        var fetched = await network.Client(network.Nodes[^1]).FetchAsync(owner, default);
        Assert.Equal(expected, fetched.Envelopes.Select(e => Convert.ToHexString(e.EnvelopeId)).Order());
    }

    [Fact]
    public async Task A_deleted_envelope_is_not_resurrected_by_a_node_that_missed_the_delete()
    {
        await using var network = await MailboxTestNetwork.StartAsync(Nodes);
        var owner = IdentityKey.Generate();
        var mailboxId = MailboxAddress.Of(owner.PublicKey);
        var ownerClient = network.Client(network.Nodes[0]);
        var sender = network.Client(network.Nodes[1], network.CreateDepositHost());
        var (deleted, kept) = (RandomNumberGenerator.GetBytes(16), RandomNumberGenerator.GetBytes(16));
        await sender.DepositAsync(owner.PublicKey, deleted, [1, 2, 3], new DepositAuthorization.Stamp(), default);
        await sender.DepositAsync(owner.PublicKey, kept, [4, 5, 6], new DepositAuthorization.Stamp(), default);

        // One mailbox node is away while the owner deletes, and comes back with its copy.
        var holders = network.ClosestTo(mailboxId, 20);
        var away = holders.First(n => n != network.Nodes[0] && n != network.Nodes[1]);
        await away.Service.DisposeAsync();
        Assert.Equal(19, await ownerClient.DeleteAsync(owner, [deleted], default));
        away.Service = network.StartService(away.Host, away.Dht, away.Store);
        Assert.Contains(Convert.ToHexString(deleted), await HeldByAsync(away, mailboxId));

        // Its offer finds every node that saw the delete unwilling to take the envelope back.
        await away.Service.RunMaintenanceOnceAsync(default);
        await AssertHeldByNoneAsync(holders.Where(n => n != away), mailboxId, deleted);
        foreach (var node in network.Live.Where(n => n != away))
        {
            await node.Service.RunMaintenanceOnceAsync(default);
        }
        await AssertHeldByNoneAsync(network.Live, mailboxId, deleted);
        await away.Service.RunMaintenanceOnceAsync(default);
        var left = Assert.Single((await ownerClient.FetchAsync(owner, default)).Envelopes);
        Assert.Equal(kept, left.EnvelopeId);
    }

    internal static async Task<List<string>> HeldByAsync(MailboxNode node, byte[] mailboxId) =>
        (await node.Store.GetInventoryAsync(mailboxId, default)).EnvelopeIds.Select(Convert.ToHexString).ToList();

    private static async Task AssertHeldByNoneAsync(IEnumerable<MailboxNode> nodes, byte[] mailboxId, byte[] envelopeId)
    {
        foreach (var node in nodes.ToList())
        {
            Assert.DoesNotContain(Convert.ToHexString(envelopeId), await HeldByAsync(node, mailboxId));
        }
    }
}
