using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Host;

namespace Parley.Net.Tests.Host;

/// <summary>Which address is dialled when (go-libp2p's dial ranking), and that a dial that cannot work never holds the others back.</summary>
public sealed class DialRankingTests
{
    private static readonly PeerId Peer = IdentityKey.Generate().PeerId;
    private static readonly Multiaddr Loopback = Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001");
    private static readonly Multiaddr Private = Multiaddr.Parse("/ip4/10.1.0.2/tcp/4001");
    private static readonly Multiaddr Public = Multiaddr.Parse("/ip4/8.8.4.4/tcp/4001");
    private static readonly Multiaddr Relayed = Multiaddr.Parse($"/ip4/8.8.8.8/tcp/4001/p2p/{IdentityKey.Generate().PeerId}/p2p-circuit");

    [Fact]
    public void Relayed_addresses_wait_only_for_a_public_direct_address()
    {
        // A peer behind a NAT advertises its loopback and LAN addresses, which cannot work from another network.
        var behindNat = DialRanking.Schedule([Private, Loopback], [Relayed]);
        Assert.Equal(new[] { (Loopback, TimeSpan.Zero), (Relayed, TimeSpan.Zero), (Private, DialRanking.Step) }, behindNat);

        var withPublic = DialRanking.Schedule([Public, Private], [Relayed]);
        Assert.Equal(new[] { (Private, TimeSpan.Zero), (Public, DialRanking.Step), (Relayed, DialRanking.RelayDelay) }, withPublic);

        Assert.Equal(new[] { (Relayed, TimeSpan.Zero) }, DialRanking.Schedule([], [Relayed]));
    }

    [Fact]
    public async Task When_every_dial_started_has_failed_the_next_starts_at_once()
    {
        var schedule = new[] { (Private, TimeSpan.Zero), (Relayed, TimeSpan.FromHours(1)) };
        var dialled = new List<Multiaddr>();

        var winner = await DialRanking.RaceAsync(Peer, schedule, (address, _) =>
        {
            dialled.Add(address);
            return address.Equals(Private) ? Task.FromException<Multiaddr>(new PeerConnectionException("network unreachable")) : Task.FromResult(address);
        }, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(Relayed, winner);
        Assert.Equal(new[] { Private, Relayed }, dialled);
    }

    [Fact]
    public async Task The_first_connection_wins_and_the_slower_dials_are_cancelled()
    {
        var hanging = new TaskCompletionSource<CancellationToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        var schedule = DialRanking.Schedule([Private], [Relayed]);

        var winner = await DialRanking.RaceAsync(Peer, schedule, async (address, ct) =>
        {
            if (!address.Equals(Private))
            {
                return address;
            }
            // A SYN that nobody answers: the dial hangs until it is cancelled.
            hanging.SetResult(ct);
            await Task.Delay(Timeout.Infinite, ct);
            return address;
        }, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(Relayed, winner);
        Assert.True((await hanging.Task).IsCancellationRequested);
    }

    [Fact]
    public async Task Every_dial_failing_names_the_last_failure()
    {
        var schedule = DialRanking.Schedule([Loopback, Private], []);

        var error = await Assert.ThrowsAsync<PeerConnectionException>(() => DialRanking.RaceAsync<Multiaddr>(
            Peer, schedule, (address, _) => Task.FromException<Multiaddr>(new PeerConnectionException($"{address} refused")), CancellationToken.None));

        Assert.Contains($"{Private} refused", error.Message, StringComparison.Ordinal);
    }
}
