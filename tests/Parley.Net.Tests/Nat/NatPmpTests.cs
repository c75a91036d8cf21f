using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Parley.Net.PortMapping;

namespace Parley.Net.Tests.Nat;

/// <summary>NAT-PMP (RFC 6886) against a fake router on loopback, and the default gateway from Linux's route table.</summary>
public sealed class NatPmpTests : IDisposable
{
    private static readonly IPAddress PublicAddress = IPAddress.Parse("198.51.100.7");
    private readonly UdpClient _router = new(new IPEndPoint(IPAddress.Loopback, 0));

    private IPEndPoint Router => (IPEndPoint)_router.Client.LocalEndPoint!;

    public void Dispose() => _router.Dispose();

    [Fact]
    public void A_mapping_request_is_the_rfc_s_twelve_bytes()
    {
        var request = NatPmp.MapTcpRequest(4001, 4002, TimeSpan.FromHours(2));

        Assert.Equal(new byte[] { 0, 2, 0, 0, 0x0f, 0xa1, 0x0f, 0xa2, 0, 0, 0x1c, 0x20 }, request);
        Assert.Equal(new byte[] { 0, 2, 0, 0, 0x0f, 0xa1, 0, 0, 0, 0, 0, 0 }, NatPmp.MapTcpRequest(4001, 0, TimeSpan.Zero));
    }

    [Fact]
    public async Task The_router_s_address_and_a_mapping_are_read_from_its_answers()
    {
        var serving = ServeAsync(request => request[1] == 0 ? ExternalAddressAnswer(0) : MapAnswer(request, 0, externalPort: 40001, lifetimeSeconds: 3600));

        var external = await NatPmp.GetExternalAddressAsync(Router, CancellationToken.None);
        var (internalPort, externalPort, lifetime) = await NatPmp.MapTcpAsync(Router, 4001, 4001, TimeSpan.FromHours(2), CancellationToken.None);

        Assert.Equal(PublicAddress, external);
        Assert.Equal(4001, internalPort);
        Assert.Equal(40001, externalPort);
        Assert.Equal(TimeSpan.FromHours(1), lifetime);
        _router.Dispose();
        await serving;
    }

    [Theory]
    [InlineData(2, "the router refused (port mapping is turned off or not allowed for this host)")]
    [InlineData(4, "the router has no mapping left to give")]
    [InlineData(9, "the router refused with NAT-PMP result code 9")]
    public async Task A_refusal_is_an_error_that_says_why(int resultCode, string message)
    {
        var serving = ServeAsync(request => MapAnswer(request, resultCode, 0, 0));

        var refusal = await Assert.ThrowsAsync<NatPmpException>(() => NatPmp.MapTcpAsync(Router, 4001, 4001, TimeSpan.FromHours(2), CancellationToken.None));

        Assert.Equal(resultCode, refusal.ResultCode);
        Assert.Equal(message, refusal.Message);
        _router.Dispose();
        await serving;
    }

    [Fact]
    public async Task Garbage_and_answers_to_other_requests_are_not_taken_for_an_answer()
    {
        var answers = new Queue<Func<byte[], byte[]>>([_ => [0, 130], request => MapAnswer(request, 0, 4001, 7200)]);
        var serving = ServeAsync(request => answers.Dequeue()(request), replies: 2);

        var (_, externalPort, _) = await NatPmp.MapTcpAsync(Router, 4001, 4001, TimeSpan.FromHours(2), CancellationToken.None);

        Assert.Equal(4001, externalPort);
        _router.Dispose();
        await serving;
    }

    [Fact]
    public async Task An_answer_for_another_port_is_refused()
    {
        var serving = ServeAsync(request => MapAnswer(request, 0, 4001, 7200, internalPort: 5000));

        var error = await Assert.ThrowsAsync<NatPmpException>(() => NatPmp.MapTcpAsync(Router, 4001, 4001, TimeSpan.FromHours(2), CancellationToken.None));

        Assert.Equal("the router answered for port 5000, not 4001", error.Message);
        _router.Dispose();
        await serving;
    }

    [Fact]
    public async Task No_service_on_the_gateway_fails_at_once()
    {
        var closed = Router;
        _router.Dispose();
        var started = System.Diagnostics.Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<NatPmpException>(() => NatPmp.GetExternalAddressAsync(closed, CancellationToken.None));

        Assert.Equal($"no NAT-PMP service at {closed.Address}", error.Message);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(3), $"took {started.Elapsed}");
    }

    [Fact]
    public async Task A_router_that_never_answers_is_given_up_on()
    {
        var error = await Assert.ThrowsAsync<NatPmpException>(() => NatPmp.GetExternalAddressAsync(Router, CancellationToken.None));

        Assert.Equal($"{Router.Address} did not answer NAT-PMP within 3.8 s", error.Message);
    }

    [Fact]
    public void The_default_gateway_comes_from_the_route_to_everywhere()
    {
        string[] table =
        [
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
            "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
            "eth0\t00000000\t0100010A\t0003\t0\t0\t0\t00000000\t0\t0\t0",
        ];

        Assert.Equal(IPAddress.Parse("10.1.0.1"), DefaultGateway.Parse(table));
        Assert.Null(DefaultGateway.Parse(table.Take(2)));
        Assert.Null(DefaultGateway.Parse(["header", "eth0\tzz\t0100010A\t0003", "not a route"]));
    }

    private static byte[] ExternalAddressAnswer(int resultCode)
    {
        var answer = new byte[12];
        answer[1] = 128;
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(2), (ushort)resultCode);
        BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(4), 1000);
        PublicAddress.GetAddressBytes().CopyTo(answer, 8);
        return answer;
    }

    private static byte[] MapAnswer(byte[] request, int resultCode, int externalPort, uint lifetimeSeconds, int? internalPort = null)
    {
        var answer = new byte[16];
        answer[1] = 130;
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(2), (ushort)resultCode);
        BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(4), 1000);
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(8), (ushort)(internalPort ?? BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(4))));
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(10), (ushort)externalPort);
        BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(12), lifetimeSeconds);
        return answer;
    }

    /// <summary>Answers each request with <paramref name="answer"/> until the socket is closed; with <paramref name="replies"/>, sends that many answers to the first request.</summary>
    private async Task ServeAsync(Func<byte[], byte[]> answer, int replies = 1)
    {
        try
        {
            while (true)
            {
                var received = await _router.ReceiveAsync();
                for (var i = 0; i < replies; i++)
                {
                    await _router.SendAsync(answer(received.Buffer), received.RemoteEndPoint);
                }
                replies = 1;
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            // The test closed the router.
        }
    }
}
