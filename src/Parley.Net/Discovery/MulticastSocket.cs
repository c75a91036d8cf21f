using System.Net;
using System.Net.Sockets;

namespace Parley.Net.Discovery;

/// <summary>A socket joined to the mDNS group, and the group endpoint to send to through it.</summary>
internal sealed record MulticastSocket(Socket Socket, IPEndPoint Group);
