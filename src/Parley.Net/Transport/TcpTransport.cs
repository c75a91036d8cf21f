using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Parley.Core.Multiformats;

namespace Parley.Net.Transport;

/// <summary>Plain TCP sockets for <c>/ip4|ip6|dns|dns4|dns6/…/tcp/…</c> multiaddrs.</summary>
public static class TcpTransport
{
    public static bool CanDial(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.TryGetTcpEndPoint(out _) || address.TryGetDnsTcp(out _, out _, out _);
    }

    /// <summary>
    /// Dials <paramref name="address"/>; with <paramref name="localEndPoint"/>, from that address and port (shared with
    /// our listener through SO_REUSEADDR/SO_REUSEPORT), so a NAT maps the connection to the same public port as every
    /// other one and peers observe one address that a hole punch can target.
    /// </summary>
    /// <exception cref="PeerConnectionException">Unsupported address, name not resolved, refused or timed out.</exception>
    public static async Task<Socket> DialAsync(Multiaddr address, CancellationToken cancellationToken, IPEndPoint? localEndPoint = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        IPEndPoint endPoint;
        if (address.TryGetTcpEndPoint(out var direct))
        {
            endPoint = direct!;
        }
        else if (address.TryGetDnsTcp(out var host, out var port, out var family))
        {
            endPoint = await ResolveAsync(host!, port, family, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            throw new PeerConnectionException($"cannot dial {address}: not a TCP address");
        }
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (localEndPoint is not null && localEndPoint.AddressFamily == endPoint.AddressFamily)
            {
                ShareLocalPort(socket);
                socket.Bind(localEndPoint);
            }
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new PeerConnectionException($"cannot connect to {address}: {e.SocketErrorCode}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Listens on <paramref name="address"/>; its port can also be the source port of outgoing dials (<see cref="DialAsync"/>).</summary>
    public static Socket Listen(Multiaddr address, int backlog = 512)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!address.TryGetTcpEndPoint(out var endPoint))
        {
            throw new ArgumentException($"cannot listen on {address}: only /ip4|ip6/…/tcp/… is supported", nameof(address));
        }
        var socket = new Socket(endPoint!.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }
            ShareLocalPort(socket);
            socket.Bind(endPoint);
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The addresses a listening socket is reachable at: an unspecified address (0.0.0.0, ::) becomes one per local interface address.</summary>
    public static IReadOnlyList<Multiaddr> ReachableAddresses(IPEndPoint bound)
    {
        ArgumentNullException.ThrowIfNull(bound);
        if (!bound.Address.Equals(IPAddress.Any) && !bound.Address.Equals(IPAddress.IPv6Any))
        {
            return [Multiaddr.FromEndPoint(bound)];
        }
        var interfaceAddresses = NetworkInterface.GetAllNetworkInterfaces()
            .Where(nic => nic.OperationalStatus == OperationalStatus.Up || nic.NetworkInterfaceType == NetworkInterfaceType.Loopback)
            .SelectMany(nic => nic.GetIPProperties().UnicastAddresses)
            .Select(u => u.Address)
            .Where(a => a.AddressFamily == bound.AddressFamily && !a.IsIPv6LinkLocal)
            .Distinct()
            .OrderByDescending(IPAddress.IsLoopback)
            .Select(a => Multiaddr.FromEndPoint(new IPEndPoint(a, bound.Port)))
            .ToList();
        return interfaceAddresses.Count > 0 ? interfaceAddresses : [Multiaddr.FromEndPoint(bound)];
    }

    /// <summary>SO_REUSEADDR and, on Linux, SO_REUSEPORT, which lets a dial bind the port our listener holds.</summary>
    private static void ShareLocalPort(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (OperatingSystem.IsLinux())
        {
            const int SolSocket = 1;
            const int SoReusePort = 15;
            socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
        }
    }

    private static async Task<IPEndPoint> ResolveAsync(string host, int port, AddressFamily family, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        try
        {
            addresses = await Dns.GetHostAddressesAsync(host, family, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new PeerConnectionException($"cannot resolve {host}: {e.SocketErrorCode}", e);
        }
        var address = addresses.FirstOrDefault() ?? throw new PeerConnectionException($"{host} has no {family} address");
        return new IPEndPoint(address, port);
    }
}
