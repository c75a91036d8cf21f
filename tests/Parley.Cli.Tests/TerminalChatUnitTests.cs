using Parley.Node.Api;

namespace Parley.Cli.Tests;

/// <summary>The terminal chat's small decisions: timestamps, and which status changes are worth a line.</summary>
public sealed class TerminalChatUnitTests
{
    [Fact]
    public void Timestamps_are_hours_and_minutes_today_and_carry_the_date_otherwise()
    {
        var now = new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero).ToLocalTime();
        var earlierToday = new DateTimeOffset(now.Date.AddHours(9).AddMinutes(5), now.Offset);
        Assert.Equal("09:05", TerminalChat.Timestamp(earlierToday, now));
        Assert.Equal(earlierToday.AddDays(-1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) + " 09:05", TerminalChat.Timestamp(earlierToday.AddDays(-1), now));
    }

    [Fact]
    public void Only_losing_every_peer_or_finding_peers_again_is_news()
    {
        Assert.Null(TerminalChat.ConnectivityChange(null, Status(5)));
        Assert.Null(TerminalChat.ConnectivityChange(Status(5), Status(6)));
        Assert.Null(TerminalChat.ConnectivityChange(Status(6), Status(3)));
        Assert.Null(TerminalChat.ConnectivityChange(null, Status(0)));
        Assert.Contains("no peers", TerminalChat.ConnectivityChange(Status(3), Status(0)), StringComparison.Ordinal);
        Assert.Null(TerminalChat.ConnectivityChange(Status(0), Status(0)));
        Assert.Contains("connected: 2 peers", TerminalChat.ConnectivityChange(Status(0), Status(2)), StringComparison.Ordinal);
    }

    private static StatusDto Status(int peers) => new("tess#aaaaaaaa", "12D3KooW", "12D3KooW", peers, [], 0, 0, 0, "unknown", "server", [], false, 0, 0);
}
