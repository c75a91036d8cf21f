using System.Text.Json;
using Parley.Testing.Interop;
using Parley.Testing.Nat;

namespace Parley.Cli.Tests.Nat;

/// <summary>The reachability issue's scenarios, on real `parley` processes in the NAT lab.</summary>
[Collection(NatNetworkCollection.Name)]
public sealed class NatScenarioTests(NatNetwork lab)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [NatLabFact]
    public async Task AutoNat_finds_every_home_private_and_the_public_nodes_public_and_no_home_enters_a_routing_table()
    {
        foreach (var user in lab.Users.Values)
        {
            await NatNetwork.WaitUntilAsync(async () => Reachability(await lab.StatusAsync(user)) == "private", Patience, $"{user.Name} knows she is private");
            var status = (await lab.StatusAsync(user)).GetProperty("status");
            Assert.Equal("client", status.GetProperty("dhtMode").GetString());
        }
        foreach (var (ns, data, _, _) in lab.PublicNodes)
        {
            await NatNetwork.WaitUntilAsync(async () => Reachability(await lab.StatusAsync(ns, data)) == "public", Patience, $"the public node in {ns} knows it is public");
            var status = await lab.StatusAsync(ns, data);
            Assert.Equal("server", status.GetProperty("status").GetProperty("dhtMode").GetString());
            Assert.True(status.GetProperty("status").GetProperty("relaying").GetBoolean());
            var table = status.GetProperty("routingTable").EnumerateArray().Select(p => p.GetString()).ToList();
            Assert.NotEmpty(table);
            Assert.All(lab.Users.Values, user => Assert.DoesNotContain(user.Device, table));
        }
    }

    [NatLabFact]
    public async Task Alice_and_bob_behind_endpoint_independent_nats_talk_over_a_relay_then_directly()
    {
        var alice = lab.Users["alice"];
        var bob = lab.Users["bob"];
        await WaitForRelaysAsync(alice);
        await WaitForRelaysAsync(bob);

        var sent = await lab.RunJsonAsync(alice, "send", bob.Handle, "hello bob, through the relay");

        Assert.Equal("delivered", sent.GetProperty("state").GetString());
        await NatNetwork.WaitUntilAsync(
            async () => Connections(await lab.StatusAsync(alice)).Any(c => c.Peer == bob.Device && !c.Relayed),
            Patience,
            "alice has a direct connection to bob (hole punched)");
        var answer = await lab.RunJsonAsync(bob, "send", alice.Handle, "hello alice, directly");
        Assert.Equal("delivered", answer.GetProperty("state").GetString());
        await NatNetwork.WaitUntilAsync(
            async () => Connections(await lab.StatusAsync(alice)).Where(c => c.Peer == bob.Device).All(c => !c.Relayed),
            Patience,
            "the relayed connection between alice and bob is closed");
    }

    [NatLabFact]
    public async Task Every_message_arrives_between_each_pair_of_nat_types_over_the_relay_where_punching_cannot_work()
    {
        foreach (var (from, to) in new[] { ("alice", "carol"), ("alice", "dave"), ("dave", "erin") })
        {
            var sender = lab.Users[from];
            var recipient = lab.Users[to];
            await WaitForRelaysAsync(sender);
            await WaitForRelaysAsync(recipient);
            for (var i = 0; i < 3; i++)
            {
                var there = await lab.RunJsonAsync(sender, "send", recipient.Handle, $"{from} to {to} #{i}");
                var back = await lab.RunJsonAsync(recipient, "send", sender.Handle, $"{to} to {from} #{i}");
                Assert.Equal("delivered", there.GetProperty("state").GetString());
                Assert.Equal("delivered", back.GetProperty("state").GetString());
            }
            var history = await lab.RunJsonAsync(recipient, "history", sender.Handle);
            var texts = history.EnumerateArray().Select(m => m.GetProperty("text").GetString()).ToList();
            for (var i = 0; i < 3; i++)
            {
                Assert.Contains($"{from} to {to} #{i}", texts);
                Assert.Contains($"{to} to {from} #{i}", texts);
            }
        }
    }

    [NatLabFact]
    public async Task When_a_relay_of_alice_dies_she_reserves_on_another_within_ten_seconds_and_stays_reachable()
    {
        var alice = lab.Users["alice"];
        var bob = lab.Users["bob"];
        await WaitForRelaysAsync(alice, 2);
        var relays = Relays(await lab.StatusAsync(alice));
        // Not the bootstrap node: the other tests join through it.
        var victim = lab.PublicNodes.Skip(1).First(p => relays.Contains(PeerOf(p.Address)));
        var victimId = PeerOf(victim.Address);

        victim.Node.Kill();
        lab.PublicNodes.Remove(victim);
        var killedAt = System.Diagnostics.Stopwatch.StartNew();
        await NatNetwork.WaitUntilAsync(
            async () =>
            {
                var now = Relays(await lab.StatusAsync(alice));
                return !now.Contains(victimId) && now.Count >= 2;
            },
            TimeSpan.FromSeconds(10),
            "alice holds two reservations again, none on the dead relay");
        var replacedAfter = killedAt.Elapsed;

        var sent = await lab.RunJsonAsync(bob, "send", alice.Handle, "are you still there?");
        Assert.Equal("delivered", sent.GetProperty("state").GetString());
        Assert.True(replacedAfter < TimeSpan.FromSeconds(10), $"replaced after {replacedAfter}");
    }

    [NatLabFact]
    public async Task A_room_whose_members_sit_behind_different_nats_hears_everyone()
    {
        var alice = lab.Users["alice"];
        var members = new[] { lab.Users["carol"], lab.Users["dave"] };
        await lab.RunJsonAsync(alice, "room", "create", "lab");
        foreach (var member in members)
        {
            await lab.RunJsonAsync(alice, "room", "invite", "lab", member.Handle);
        }
        foreach (var member in members)
        {
            await NatNetwork.WaitUntilAsync(
                async () => (await lab.RunJsonAsync(member, "room", "list")).EnumerateArray().Any(r => r.GetProperty("name").GetString() == "lab" && r.GetProperty("status").GetString() == "invited"),
                Patience,
                $"{member.Name} is invited");
            await lab.RunJsonAsync(member, "room", "join", "lab");
        }
        await NatNetwork.WaitUntilAsync(
            async () => (await lab.RunJsonAsync(alice, "room", "members", "lab")).GetProperty("members").GetArrayLength() == 3,
            Patience,
            "alice's room has three members");
        var everyone = members.Prepend(alice).ToList();
        foreach (var member in everyone)
        {
            await lab.RunJsonAsync(member, "room", "send", "lab", $"hello from {member.Name}");
        }

        foreach (var member in everyone)
        {
            await NatNetwork.WaitUntilAsync(
                async () =>
                {
                    var texts = (await lab.RunJsonAsync(member, "room", "history", "lab")).GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("text").GetString()).ToList();
                    return everyone.All(m => texts.Contains($"hello from {m.Name}"));
                },
                Patience,
                $"{member.Name} has every member's message");
        }
    }

    /// <summary>
    /// DCUtR between implementations: a js-libp2p node (@libp2p/dcutr) on the public segment holds a reservation on a
    /// Parley relay; alice, behind an endpoint-independent NAT, reaches it through the relay. js, the inbound side,
    /// runs the protocol (CONNECT both ways, SYNC) and alice, on SYNC, dials it from her listen port: the pair ends on
    /// a direct connection that alice opened, which nothing but the hole punch makes her open (she was given the
    /// relayed address only). js behind a NAT cannot take part: Node.js dials without SO_REUSEPORT (docs/nat.md).
    /// </summary>
    [NatLabFact]
    public async Task A_js_libp2p_peer_and_a_parley_node_behind_a_nat_move_from_the_relay_to_a_direct_connection()
    {
        var alice = lab.Users["alice"];
        var relay = lab.PublicNodes[^1];
        var (jsNamespace, jsAddress) = lab.Lab!.AddPublicHost();
        await using var js = await JsPeer.StartScriptInNamespaceAsync(
            jsNamespace,
            "peer.mjs",
            "js-dcutr/1.0",
            [
                "--hole-punch", "--listen", $"/ip4/{jsAddress}/tcp/{NatNetwork.Port}", "--announce", $"/ip4/{jsAddress}/tcp/{NatNetwork.Port}",
                "--listen", $"{relay.Address}/p2p-circuit",
            ]);
        var circuit = js.Addresses.First(a => a.StartsWith($"{relay.Address}/p2p-circuit/", StringComparison.Ordinal));

        var connected = await lab.RunJsonAsync(alice, "connect", circuit);

        Assert.Contains(connected.EnumerateArray(), c => c.GetProperty("relayed").GetBoolean());
        try
        {
            await NatNetwork.WaitUntilAsync(
                async () => Connections(await lab.StatusAsync(alice)).Any(c => c.Peer == js.PeerId && !c.Relayed),
                Patience,
                "alice has a direct connection to the js peer");
        }
        catch (TimeoutException e)
        {
            Assert.Fail($"{e.Message}\n--- the js peer's log ---\n{js.RecentStderr(80)}");
        }
        var direct = (await lab.StatusAsync(alice)).GetProperty("connections").EnumerateArray()
            .First(c => c.GetProperty("peer").GetString() == js.PeerId && !c.GetProperty("relayed").GetBoolean());
        Assert.Equal("outbound", direct.GetProperty("direction").GetString());
        var jsConnections = (await js.CommandAsync("connections")).GetProperty("connections").EnumerateArray()
            .Where(c => c.GetProperty("peerId").GetString() == alice.Device).ToList();
        Assert.Contains(jsConnections, c => !c.GetProperty("limited").GetBoolean() && !c.GetProperty("remoteAddr").GetString()!.Contains("/p2p-circuit", StringComparison.Ordinal));
    }

    /// <summary>
    /// frank's router forwards ports on request (NAT-PMP, miniupnpd): his node asks for its listen port, AutoNAT finds
    /// the forwarded address dialable, and frank is public (a DHT server, advertising the forwarded address) with no
    /// relay; alice, behind a NAT of her own, reaches him directly.
    /// </summary>
    [PortMappingLabFact]
    public async Task A_node_whose_router_maps_its_port_is_public_and_reached_directly()
    {
        var alice = lab.Users["alice"];
        var home = lab.Lab!.AddHome(NatType.PortMapping);
        var frank = await lab.StartUserAsync("frank", home);
        var forwarded = $"/ip4/{home.PublicAddress}/tcp/{NatNetwork.Port}";

        // Whatever fails, say what frank's node and his router's miniupnpd did (the lab's other tests never show it).
        try
        {
            await NatNetwork.WaitUntilAsync(async () => Reachability(await lab.StatusAsync(frank)) == "public", Patience, "frank knows he is public");
            var status = (await lab.StatusAsync(frank)).GetProperty("status");
            Assert.Equal("server", status.GetProperty("dhtMode").GetString());
            // Until AutoNAT had answered, frank saw himself behind a NAT and reserved relays; public, he lets them go.
            await NatNetwork.WaitUntilAsync(async () => Relays(await lab.StatusAsync(frank)).Count == 0, Patience, "frank holds no relay reservation");
            Assert.Contains(status.GetProperty("addresses").EnumerateArray(), a => a.GetString()!.StartsWith(forwarded + "/", StringComparison.Ordinal));

            var sent = await lab.RunJsonAsync(alice, "send", frank.Handle, "hello frank, straight to your router");

            Assert.Equal("delivered", sent.GetProperty("state").GetString());
            Assert.Contains(Connections(await lab.StatusAsync(alice)), c => c.Peer == frank.Device && !c.Relayed);
        }
        catch (Exception e) when (e is TimeoutException or Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{e.Message}\n--- frank's node\n{frank.Node.Describe()}\n--- his router\n{lab.Lab!.PortMappingLog()}");
        }
    }

    private static string PeerOf(string address) => address[(address.LastIndexOf("/p2p/", StringComparison.Ordinal) + "/p2p/".Length)..];

    private static List<string> Relays(JsonElement status) =>
        status.GetProperty("status").GetProperty("relays").EnumerateArray().Select(r => r.GetString()!).ToList();

    private async Task WaitForRelaysAsync(LabUser user, int count) =>
        await NatNetwork.WaitUntilAsync(
            async () => (await lab.StatusAsync(user)).GetProperty("status").GetProperty("relays").GetArrayLength() >= count,
            Patience,
            $"{user.Name} holds {count} relay reservations");

    private async Task WaitForRelaysAsync(LabUser user) =>
        await NatNetwork.WaitUntilAsync(
            async () => (await lab.StatusAsync(user)).GetProperty("status").GetProperty("relays").GetArrayLength() > 0,
            Patience,
            $"{user.Name} holds a relay reservation");

    private static string? Reachability(JsonElement status) => status.GetProperty("status").GetProperty("reachability").GetString();

    private static List<(string Peer, bool Relayed)> Connections(JsonElement status) =>
        status.GetProperty("connections").EnumerateArray().Select(c => (c.GetProperty("peer").GetString()!, c.GetProperty("relayed").GetBoolean())).ToList();
}
