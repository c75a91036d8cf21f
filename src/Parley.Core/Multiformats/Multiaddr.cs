using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Parley.Core.Identity;

namespace Parley.Core.Multiformats;

/// <summary>One protocol of a multiaddr and its value in canonical text form ("127.0.0.1", "4001", a base58 peer id).</summary>
public readonly record struct MultiaddrComponent(MultiaddrProtocol Protocol, string Value);

/// <summary>
/// A multiaddr (multiformats/multiaddr): a stack of protocols with values, e.g. <c>/ip4/127.0.0.1/tcp/4001/p2p/12D3…</c>.
/// Text is <c>(/name/value)+</c>; binary is <c>(varint code, value)+</c> where variable-size values carry a varint
/// length. Immutable; equality is by the binary form. Only the protocols of <see cref="MultiaddrProtocol"/> are
/// accepted, anything else is a <see cref="FormatException"/>.
/// </summary>
public sealed class Multiaddr : IEquatable<Multiaddr>
{
    /// <summary>Bound on the binary form, so a hostile peer cannot make us hold arbitrarily long addresses.</summary>
    public const int MaxLength = 1024;

    /// <summary>Bound on the text form; far above what <see cref="MaxLength"/> bytes print as.</summary>
    public const int MaxTextLength = 4 * MaxLength;

    private readonly Part[] _parts;
    private readonly byte[] _bytes;

    // The text forms are made when first asked for: a DHT node parses far more peer addresses from the wire than it
    // ever prints, and formatting each value (a base58 peer id above all) was most of the parsing cost.
    private string? _text;
    private IReadOnlyList<MultiaddrComponent>? _components;

    private Multiaddr(Part[] parts, byte[]? bytes = null)
    {
        _parts = parts;
        _bytes = bytes ?? parts.SelectMany(part => part.Encoded).ToArray();
        PeerId = Array.FindLast(parts, part => part.Protocol == MultiaddrProtocol.P2p)?.PeerId;
    }

    public IReadOnlyList<MultiaddrComponent> Components =>
        _components ??= Array.AsReadOnly(Array.ConvertAll(_parts, part => part.Component));

    /// <summary>The peer id of the last <c>/p2p</c> component, or null when there is none.</summary>
    public PeerId? PeerId { get; }

    /// <exception cref="FormatException">Malformed text, an unsupported protocol, an invalid value, or too long.</exception>
    public static Multiaddr Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxTextLength)
        {
            throw new FormatException($"multiaddr text longer than {MaxTextLength} characters");
        }
        if (!text.StartsWith('/'))
        {
            throw new FormatException($"multiaddr '{MultiaddrProtocolTable.Abbreviate(text)}' does not start with '/'");
        }
        var body = text[1..];
        // go-multiaddr and js-multiaddr accept one trailing slash; so do we, and print without it.
        if (body.EndsWith('/'))
        {
            body = body[..^1];
        }
        if (body.Length == 0)
        {
            throw new FormatException("empty multiaddr");
        }
        var segments = body.Split('/');
        var parts = new List<Part>();
        for (var i = 0; i < segments.Length; i += 2)
        {
            var protocol = MultiaddrProtocolTable.FromName(segments[i]);
            if (MultiaddrProtocolTable.ValueSize(protocol) == 0)
            {
                // A protocol without a value (/p2p-circuit) is one segment long.
                parts.Add(Part.Create(protocol, []));
                i--;
                continue;
            }
            if (i + 1 == segments.Length || segments[i + 1].Length == 0)
            {
                throw new FormatException($"/{MultiaddrProtocolTable.Name(protocol)} needs a value");
            }
            var value = MultiaddrProtocolTable.ParseValue(protocol, segments[i + 1]);
            parts.Add(Part.Create(protocol, value));
        }
        return new Multiaddr(RequireWithinMaxLength(parts));
    }

    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out Multiaddr? result)
    {
        result = null;
        if (text is null)
        {
            return false;
        }
        try
        {
            result = Parse(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <exception cref="FormatException">Empty, longer than <see cref="MaxLength"/>, truncated, trailing bytes, an unsupported protocol code, or an invalid value.</exception>
    public static Multiaddr FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            throw new FormatException("empty multiaddr");
        }
        if (bytes.Length > MaxLength)
        {
            throw new FormatException($"multiaddr longer than {MaxLength} bytes");
        }
        var parts = new List<Part>();
        var offset = 0;
        while (offset < bytes.Length)
        {
            var start = offset;
            var protocol = MultiaddrProtocolTable.FromCode(Varint.Read(bytes[offset..], out var codeLength));
            offset += codeLength;
            var fixedSize = MultiaddrProtocolTable.ValueSize(protocol);
            ulong valueLength;
            if (fixedSize == MultiaddrProtocolTable.VariableSize)
            {
                valueLength = Varint.Read(bytes[offset..], out var lengthLength);
                offset += lengthLength;
            }
            else
            {
                valueLength = (ulong)fixedSize;
            }
            if (valueLength > (ulong)(bytes.Length - offset))
            {
                throw new FormatException($"/{MultiaddrProtocolTable.Name(protocol)} value is truncated");
            }
            var peerId = MultiaddrProtocolTable.ValidateValue(protocol, bytes.Slice(offset, (int)valueLength));
            offset += (int)valueLength;
            parts.Add(new Part(protocol, bytes[start..offset].ToArray(), (int)valueLength, peerId));
        }
        return new Multiaddr(parts.ToArray(), bytes.ToArray());
    }

    /// <summary>
    /// /ip4 or /ip6 followed by /tcp. IPv4-mapped IPv6 addresses become /ip4. An IPv6 scope (zone) is dropped: it
    /// only means something on this host and would need /ip6zone, which Parley does not implement.
    /// </summary>
    /// <exception cref="ArgumentException">An address family other than IPv4 or IPv6.</exception>
    public static Multiaddr FromEndPoint(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var address = endPoint.Address;
        // Dual-mode sockets report IPv4 peers as ::ffff:a.b.c.d; other libp2p nodes know them as /ip4.
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        var hostProtocol = address.AddressFamily switch
        {
            AddressFamily.InterNetwork => MultiaddrProtocol.Ip4,
            AddressFamily.InterNetworkV6 => MultiaddrProtocol.Ip6,
            _ => throw new ArgumentException($"not an IP endpoint: {address.AddressFamily}", nameof(endPoint)),
        };
        var port = endPoint.Port.ToString(CultureInfo.InvariantCulture);
        return new Multiaddr(
        [
            Part.Create(hostProtocol, address.GetAddressBytes()),
            Part.Create(MultiaddrProtocol.Tcp, MultiaddrProtocolTable.ParseValue(MultiaddrProtocol.Tcp, port)),
        ]);
    }

    public byte[] ToBytes() => (byte[])_bytes.Clone();

    /// <summary>The binary form without a copy, e.g. to write into a protocol message.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    public override string ToString() => _text ??= FormatText();

    /// <summary>The value of the first component of <paramref name="protocol"/>, or null.</summary>
    public string? ValueOf(MultiaddrProtocol protocol)
    {
        foreach (var part in _parts)
        {
            if (part.Protocol == protocol)
            {
                return part.Component.Value;
            }
        }
        return null;
    }

    /// <summary>This address without its trailing <c>/p2p</c> component (itself when there is none).</summary>
    /// <exception cref="InvalidOperationException">The address is nothing but a <c>/p2p</c> component.</exception>
    public Multiaddr WithoutPeerId()
    {
        if (!EndsWithPeerId)
        {
            return this;
        }
        if (_parts.Length == 1)
        {
            throw new InvalidOperationException($"{this} has nothing left without its peer id");
        }
        return new Multiaddr(_parts[..^1]);
    }

    /// <summary>This address with <paramref name="peerId"/> as its trailing <c>/p2p</c> component, replacing any.</summary>
    /// <exception cref="ArgumentException">The result would exceed <see cref="MaxLength"/>.</exception>
    public Multiaddr WithPeerId(PeerId peerId)
    {
        ArgumentNullException.ThrowIfNull(peerId);
        var kept = EndsWithPeerId ? _parts[..^1] : _parts;
        return Combine([.. kept, Part.Create(MultiaddrProtocol.P2p, peerId.Bytes.ToArray())], nameof(peerId));
    }

    /// <summary>This address followed by <paramref name="other"/>.</summary>
    /// <exception cref="ArgumentException">The result would exceed <see cref="MaxLength"/>.</exception>
    public Multiaddr Encapsulate(Multiaddr other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Combine([.. _parts, .. other._parts], nameof(other));
    }

    /// <summary>True for a relayed address, <c>&lt;relay&gt;/p2p/&lt;relay id&gt;/p2p-circuit[/p2p/&lt;target id&gt;]</c>.</summary>
    public bool IsCircuit => Array.Exists(_parts, part => part.Protocol == MultiaddrProtocol.P2pCircuit);

    /// <summary>
    /// Splits a relayed address into the relay's address (which must name the relay's /p2p id) and the target peer
    /// after /p2p-circuit (null when the address has none). False for anything else, including a relay of a relay.
    /// </summary>
    public bool TryGetCircuit([NotNullWhen(true)] out Multiaddr? relay, out PeerId? target)
    {
        relay = null;
        target = null;
        var circuit = Array.FindIndex(_parts, part => part.Protocol == MultiaddrProtocol.P2pCircuit);
        if (circuit <= 0 || Array.FindLastIndex(_parts, part => part.Protocol == MultiaddrProtocol.P2pCircuit) != circuit)
        {
            return false;
        }
        var rest = _parts[(circuit + 1)..];
        if (rest.Length > 1 || (rest.Length == 1 && rest[0].Protocol != MultiaddrProtocol.P2p))
        {
            return false;
        }
        var relayAddress = new Multiaddr(_parts[..circuit]);
        if (!relayAddress.EndsWithPeerId)
        {
            return false;
        }
        relay = relayAddress;
        target = rest.Length == 1 ? PeerId : null;
        return true;
    }

    /// <summary>True for <c>/ip4|ip6/addr/tcp/port</c>, optionally followed by <c>/p2p/id</c>.</summary>
    public bool TryGetTcpEndPoint([NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        endPoint = null;
        if (!TryGetHostAndTcpPort(out var host, out var port) || host.Protocol is not (MultiaddrProtocol.Ip4 or MultiaddrProtocol.Ip6))
        {
            return false;
        }
        endPoint = new IPEndPoint(new IPAddress(host.Value), port);
        return true;
    }

    /// <summary>
    /// True for <c>/dns|dns4|dns6/host/tcp/port</c>, optionally followed by <c>/p2p/id</c>. <paramref name="family"/>
    /// is the address family the name must resolve to: Unspecified for /dns. /dnsaddr needs a TXT lookup and is not a host.
    /// </summary>
    public bool TryGetDnsTcp([NotNullWhen(true)] out string? host, out int port, out AddressFamily family)
    {
        host = null;
        family = AddressFamily.Unspecified;
        if (!TryGetHostAndTcpPort(out var hostComponent, out port))
        {
            return false;
        }
        switch (hostComponent.Protocol)
        {
            case MultiaddrProtocol.Dns:
                break;
            case MultiaddrProtocol.Dns4:
                family = AddressFamily.InterNetwork;
                break;
            case MultiaddrProtocol.Dns6:
                family = AddressFamily.InterNetworkV6;
                break;
            default:
                port = 0;
                return false;
        }
        host = hostComponent.Component.Value;
        return true;
    }

    public bool Equals(Multiaddr? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as Multiaddr);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    public static bool operator ==(Multiaddr? left, Multiaddr? right) => left is null ? right is null : left.Equals(right);

    public static bool operator !=(Multiaddr? left, Multiaddr? right) => !(left == right);

    private bool EndsWithPeerId => _parts[^1].Protocol == MultiaddrProtocol.P2p;

    private bool TryGetHostAndTcpPort([NotNullWhen(true)] out Part? host, out int port)
    {
        host = null;
        port = 0;
        var transportLength = EndsWithPeerId ? _parts.Length - 1 : _parts.Length;
        if (transportLength != 2 || _parts[1].Protocol != MultiaddrProtocol.Tcp)
        {
            return false;
        }
        host = _parts[0];
        port = BinaryPrimitives.ReadUInt16BigEndian(_parts[1].Value);
        return true;
    }

    private static Multiaddr Combine(Part[] parts, string parameterName)
    {
        if (parts.Sum(part => part.Encoded.Length) > MaxLength)
        {
            throw new ArgumentException($"the resulting multiaddr would exceed {MaxLength} bytes", parameterName);
        }
        return new Multiaddr(parts);
    }

    private static Part[] RequireWithinMaxLength(List<Part> parts)
    {
        if (parts.Sum(part => part.Encoded.Length) > MaxLength)
        {
            throw new FormatException($"multiaddr longer than {MaxLength} bytes");
        }
        return parts.ToArray();
    }

    private string FormatText()
    {
        var text = new StringBuilder();
        foreach (var part in _parts)
        {
            text.Append('/').Append(MultiaddrProtocolTable.Name(part.Protocol));
            if (MultiaddrProtocolTable.ValueSize(part.Protocol) != 0)
            {
                text.Append('/').Append(part.Component.Value);
            }
        }
        return text.ToString();
    }

    /// <summary>
    /// A validated component: its binary encoding (code, length prefix when variable, value), the peer id of a /p2p
    /// value, and its canonical text made when first asked for.
    /// </summary>
    private sealed class Part(MultiaddrProtocol protocol, byte[] encoded, int valueLength, PeerId? peerId)
    {
        private string? _value;

        public MultiaddrProtocol Protocol { get; } = protocol;

        public byte[] Encoded { get; } = encoded;

        public PeerId? PeerId { get; } = peerId;

        public ReadOnlySpan<byte> Value => Encoded.AsSpan(Encoded.Length - valueLength);

        public MultiaddrComponent Component => new(Protocol, _value ??= PeerId?.ToString() ?? MultiaddrProtocolTable.FormatValue(Protocol, Value));

        /// <summary>Builds a component from a binary value, validating it.</summary>
        public static Part Create(MultiaddrProtocol protocol, byte[] value)
        {
            var peerId = MultiaddrProtocolTable.ValidateValue(protocol, value);
            var code = (ulong)protocol;
            var lengthPrefixed = MultiaddrProtocolTable.ValueSize(protocol) == MultiaddrProtocolTable.VariableSize;
            var encoded = new byte[Varint.SizeOf(code) + (lengthPrefixed ? Varint.SizeOf((ulong)value.Length) : 0) + value.Length];
            var offset = Varint.Write(code, encoded);
            if (lengthPrefixed)
            {
                offset += Varint.Write((ulong)value.Length, encoded.AsSpan(offset));
            }
            value.CopyTo(encoded, offset);
            return new Part(protocol, encoded, value.Length, peerId);
        }
    }
}
