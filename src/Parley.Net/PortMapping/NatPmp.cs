using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Parley.Net.PortMapping;

/// <summary>The router refused or could not make a mapping; <see cref="ResultCode"/> is NAT-PMP's (RFC 6886 3.5), or -1 when nothing usable answered.</summary>
public sealed class NatPmpException : Exception
{
    public NatPmpException()
    {
    }

    public NatPmpException(string message)
        : base(message)
    {
    }

    public NatPmpException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NatPmpException(int resultCode, string message)
        : base(message)
    {
        ResultCode = resultCode;
    }

    public int ResultCode { get; } = -1;
}

/// <summary>A TCP port mapping the router granted: where the internet reaches <see cref="InternalPort"/>, and for how long.</summary>
public sealed record NatPmpMapping(IPAddress ExternalAddress, int InternalPort, int ExternalPort, TimeSpan Lifetime);

/// <summary>
/// NAT-PMP (RFC 6886), the port mapping protocol of home routers that Apple's and miniupnpd (OpenWrt, pfSense and most
/// Linux-based routers) serve, and that PCP servers answer too: one UDP request to the default gateway's port 5351,
/// one answer. Requests are retried as the RFC says, from 250 ms doubling, here at most four times (under 4 s), so a
/// router without NAT-PMP costs a node little at start; a router that answers "port unreachable" fails at once.
/// </summary>
public static class NatPmp
{
    public const int ServerPort = 5351;
    private const byte Version = 0;
    private const byte ExternalAddressOpcode = 0;
    private const byte MapTcpOpcode = 2;
    private const byte ResponseBit = 128;
    private const int ExternalAddressResponseLength = 12;
    private const int MapResponseLength = 16;
    private const int Attempts = 4;
    private static readonly TimeSpan FirstWait = TimeSpan.FromMilliseconds(250);

    /// <summary>The router's public address.</summary>
    /// <exception cref="NatPmpException">No NAT-PMP answer, or the router refused.</exception>
    public static Task<IPAddress> GetExternalAddressAsync(IPAddress gateway, CancellationToken cancellationToken) =>
        GetExternalAddressAsync(new IPEndPoint(gateway, ServerPort), cancellationToken);

    internal static async Task<IPAddress> GetExternalAddressAsync(IPEndPoint server, CancellationToken cancellationToken)
    {
        var answer = await ExchangeAsync(server, [Version, ExternalAddressOpcode], ExternalAddressOpcode, ExternalAddressResponseLength, cancellationToken).ConfigureAwait(false);
        return ParseExternalAddress(answer);
    }

    /// <summary>
    /// Asks for <paramref name="internalPort"/> (TCP) to be reachable from outside, at <paramref name="suggestedExternalPort"/>
    /// if the router can; the router may grant another port and another lifetime. A lifetime of zero deletes the mapping.
    /// </summary>
    /// <exception cref="NatPmpException">No NAT-PMP answer, or the router refused.</exception>
    public static Task<(int InternalPort, int ExternalPort, TimeSpan Lifetime)> MapTcpAsync(
        IPAddress gateway, int internalPort, int suggestedExternalPort, TimeSpan lifetime, CancellationToken cancellationToken) =>
        MapTcpAsync(new IPEndPoint(gateway, ServerPort), internalPort, suggestedExternalPort, lifetime, cancellationToken);

    internal static async Task<(int InternalPort, int ExternalPort, TimeSpan Lifetime)> MapTcpAsync(
        IPEndPoint server, int internalPort, int suggestedExternalPort, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var answer = await ExchangeAsync(server, MapTcpRequest(internalPort, suggestedExternalPort, lifetime), MapTcpOpcode, MapResponseLength, cancellationToken).ConfigureAwait(false);
        return ParseMapping(answer, internalPort);
    }

    internal static byte[] MapTcpRequest(int internalPort, int suggestedExternalPort, TimeSpan lifetime)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(internalPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(internalPort, ushort.MaxValue);
        ArgumentOutOfRangeException.ThrowIfNegative(suggestedExternalPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(suggestedExternalPort, ushort.MaxValue);
        var request = new byte[12];
        request[0] = Version;
        request[1] = MapTcpOpcode;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), (ushort)internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), (ushort)suggestedExternalPort);
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(8), (uint)Math.Clamp(lifetime.TotalSeconds, 0, uint.MaxValue));
        return request;
    }

    internal static IPAddress ParseExternalAddress(ReadOnlySpan<byte> answer) => new(answer.Slice(8, 4));

    internal static (int InternalPort, int ExternalPort, TimeSpan Lifetime) ParseMapping(ReadOnlySpan<byte> answer, int requestedInternalPort)
    {
        var internalPort = BinaryPrimitives.ReadUInt16BigEndian(answer[8..]);
        if (internalPort != requestedInternalPort)
        {
            throw new NatPmpException($"the router answered for port {internalPort}, not {requestedInternalPort}");
        }
        return (internalPort, BinaryPrimitives.ReadUInt16BigEndian(answer[10..]), TimeSpan.FromSeconds(BinaryPrimitives.ReadUInt32BigEndian(answer[12..])));
    }

    /// <summary>Whether a datagram is a whole answer to a request of <paramref name="opcode"/>: length, version and opcode.</summary>
    internal static bool IsAnswerTo(ReadOnlySpan<byte> answer, byte opcode, int length) =>
        answer.Length >= length && answer[0] == Version && answer[1] == (ResponseBit | opcode);

    /// <exception cref="NatPmpException">The answer's result code says the router refused.</exception>
    internal static void CheckResult(ReadOnlySpan<byte> answer)
    {
        var result = BinaryPrimitives.ReadUInt16BigEndian(answer[2..]);
        if (result != 0)
        {
            throw new NatPmpException(result, result switch
            {
                1 => "the router does not speak this NAT-PMP version",
                2 => "the router refused (port mapping is turned off or not allowed for this host)",
                3 => "the router has no public address yet (its own uplink is down)",
                4 => "the router has no mapping left to give",
                5 => "the router does not support this request",
                _ => $"the router refused with NAT-PMP result code {result}",
            });
        }
    }

    private static async Task<byte[]> ExchangeAsync(IPEndPoint server, byte[] request, byte opcode, int length, CancellationToken cancellationToken)
    {
        var gateway = server.Address;
        using var socket = new Socket(gateway.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        // Connected: the kernel drops datagrams from anyone but the gateway's port 5351, and an ICMP "port
        // unreachable" (no NAT-PMP there) surfaces as ConnectionRefused on the next receive.
        try
        {
            await socket.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new NatPmpException($"cannot reach {gateway}: {e.Message}", e);
        }
        var buffer = new byte[64];
        var wait = FirstWait;
        for (var attempt = 1; attempt <= Attempts; attempt++, wait *= 2)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(wait);
            try
            {
                await socket.SendAsync(request, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                while (true)
                {
                    var received = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                    var answer = buffer.AsSpan(0, received);
                    // A late answer to an earlier request of another kind, or a garbled datagram, is skipped.
                    if (!IsAnswerTo(answer, opcode, length))
                    {
                        continue;
                    }
                    CheckResult(answer);
                    return answer.ToArray();
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // No answer in time: ask again, waiting twice as long.
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
            {
                throw new NatPmpException($"no NAT-PMP service at {gateway}", e);
            }
            catch (SocketException e)
            {
                throw new NatPmpException($"cannot reach {gateway}: {e.Message}", e);
            }
        }
        throw new NatPmpException($"{gateway} did not answer NAT-PMP within {(FirstWait * ((1 << Attempts) - 1)).TotalSeconds:0.#} s");
    }
}
