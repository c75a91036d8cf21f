using Parley.Node.Api;

namespace Parley.Cli.Tests;

/// <summary>What `parley delivery` prints for one message: its state, then each of the recipient's devices.</summary>
public sealed class DeliveryOutputTests
{
    [Fact]
    public void Each_device_shows_by_name_with_its_state_or_not_yet()
    {
        var at = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        var message = new MessageDto(new string('a', 32), "bob#x", "alice#y", "outgoing", "read", 0, "hi", 1, at, at, false, false);
        var detail = new DeliveryDetailDto(message, [new DeviceDeliveryDto("12D3KooWLaptop", "laptop", "read", at), new DeviceDeliveryDto("12D3KooWPhone", null, null, null)]);

        Assert.Equal(
            ["hi   [read]", "  laptop: read at 2026-12-07 12:00:00Z", "  12D3KooWPhone: not yet"],
            ChatCommands.DescribeDelivery(detail).Split(Environment.NewLine));
    }
}
