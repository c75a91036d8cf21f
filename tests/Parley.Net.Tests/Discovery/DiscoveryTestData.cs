using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Parley.Core.Identity;
using Parley.Net.Discovery;

namespace Parley.Net.Tests.Discovery;

internal static class DiscoveryTestData
{
    /// <summary>A valid sha2-256 peer id without the cost of generating a key.</summary>
    public static PeerId RandomPeerId() => PeerId.FromBytes([0x12, 0x20, .. RandomNumberGenerator.GetBytes(32)]);

    /// <summary>One line per record, so that whole sections compare with Assert.Equal and read well when they differ.</summary>
    public static string Describe(DnsRecord record) => record switch
    {
        PtrRecord ptr => $"{ptr.Name} PTR {ptr.Target} ttl={ptr.Ttl} flush={ptr.CacheFlush}",
        TxtRecord txt => $"{txt.Name} TXT [{string.Join(" | ", txt.Strings)}] ttl={txt.Ttl} flush={txt.CacheFlush}",
        SrvRecord srv => $"{srv.Name} SRV {srv.Priority} {srv.Weight} {srv.Port} {srv.Target} ttl={srv.Ttl} flush={srv.CacheFlush}",
        AddressRecord address => $"{address.Name} {address.Type.ToString().ToUpperInvariant()} {address.Address} ttl={address.Ttl} flush={address.CacheFlush}",
        _ => throw new ArgumentException($"unexpected {record.GetType().Name}", nameof(record)),
    };

    public static string[] Describe(IEnumerable<DnsRecord> records) => records.Select(Describe).ToArray();
}

/// <summary>Writes DNS wire bytes by hand, so tests can build what our writer never would: compression, junk, lies.</summary>
internal sealed class PacketBuilder
{
    public const ushort ClassInternet = 1;
    public const ushort CacheFlushInternet = 0x8001;

    private readonly List<byte> _bytes = [];

    public int Position => _bytes.Count;

    public PacketBuilder Header(ushort flags, int questions, int answers, int authorities, int additionals, ushort id = 0) =>
        UInt16(id).UInt16(flags).UInt16(questions).UInt16(answers).UInt16(authorities).UInt16(additionals);

    public PacketBuilder UInt16(int value)
    {
        _bytes.Add((byte)(value >> 8));
        _bytes.Add((byte)value);
        return this;
    }

    public PacketBuilder UInt32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return Bytes(bytes);
    }

    public PacketBuilder Bytes(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public PacketBuilder Label(string label)
    {
        var bytes = Encoding.UTF8.GetBytes(label);
        _bytes.Add((byte)bytes.Length);
        return Bytes(bytes);
    }

    /// <summary>Labels of a dotted name; finish with <see cref="Root"/> or <see cref="Pointer"/>.</summary>
    public PacketBuilder Labels(string dotted)
    {
        foreach (var label in dotted.Split('.'))
        {
            Label(label);
        }
        return this;
    }

    public PacketBuilder Name(string dotted) => Labels(dotted).Root();

    public PacketBuilder Root() => Bytes(0);

    public PacketBuilder Pointer(int offset) => UInt16(0xC000 | offset);

    /// <summary>Type, class, TTL, then the data written by <paramref name="data"/> behind its real length.</summary>
    public PacketBuilder RecordTail(DnsRecordType type, ushort recordClass, uint ttl, Action<PacketBuilder> data)
    {
        UInt16((ushort)type).UInt16(recordClass).UInt32(ttl);
        var lengthAt = Position;
        UInt16(0);
        data(this);
        var length = Position - lengthAt - 2;
        _bytes[lengthAt] = (byte)(length >> 8);
        _bytes[lengthAt + 1] = (byte)length;
        return this;
    }

    public PacketBuilder TxtData(params string[] strings)
    {
        foreach (var text in strings)
        {
            Label(text);
        }
        return this;
    }

    public byte[] ToArray() => [.. _bytes];
}
