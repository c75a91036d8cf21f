using System.Buffers.Binary;
using System.Text;

namespace Parley.Net.Discovery;

/// <summary>Encodes a <see cref="DnsMessage"/> without name compression into at most <see cref="DnsMessage.MaxSize"/> bytes.</summary>
internal sealed class DnsMessageWriter
{
    private const int MaxLabelLength = 63;
    private const int MaxNameWireLength = 255;
    private const int MaxTxtStringLength = 255;
    private const ushort ClassInternet = 1;
    private const ushort TopBitOfClass = 0x8000;

    private readonly byte[] _buffer = new byte[DnsMessage.MaxSize];
    private int _position;

    private DnsMessageWriter()
    {
    }

    public static byte[] Write(DnsMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Questions.Count + message.Answers.Count + message.Authorities.Count + message.Additionals.Count > DnsMessage.MaxEntries)
        {
            throw new FormatException($"DNS message has more than {DnsMessage.MaxEntries} entries");
        }
        var writer = new DnsMessageWriter();
        writer.WriteUInt16(message.Id);
        writer.WriteUInt16(message.Flags);
        writer.WriteUInt16((ushort)message.Questions.Count);
        writer.WriteUInt16((ushort)message.Answers.Count);
        writer.WriteUInt16((ushort)message.Authorities.Count);
        writer.WriteUInt16((ushort)message.Additionals.Count);
        foreach (var question in message.Questions)
        {
            writer.WriteName(question.Name);
            writer.WriteUInt16((ushort)question.Type);
            writer.WriteUInt16(question.UnicastResponse ? (ushort)(ClassInternet | TopBitOfClass) : ClassInternet);
        }
        foreach (var record in message.Answers.Concat(message.Authorities).Concat(message.Additionals))
        {
            writer.WriteRecord(record);
        }
        return writer._buffer.AsSpan(0, writer._position).ToArray();
    }

    private void WriteRecord(DnsRecord record)
    {
        WriteName(record.Name);
        WriteUInt16((ushort)record.Type);
        WriteUInt16(record.CacheFlush ? (ushort)(ClassInternet | TopBitOfClass) : ClassInternet);
        WriteUInt32(record.Ttl);
        var lengthPosition = _position;
        WriteUInt16(0);
        switch (record)
        {
            case AddressRecord address:
                WriteBytes(address.Address.GetAddressBytes());
                break;
            case PtrRecord ptr:
                WriteName(ptr.Target);
                break;
            case TxtRecord txt:
                WriteTxtStrings(txt.Strings);
                break;
            case SrvRecord srv:
                WriteUInt16(srv.Priority);
                WriteUInt16(srv.Weight);
                WriteUInt16(srv.Port);
                WriteName(srv.Target);
                break;
            default:
                throw new FormatException($"cannot encode a {record.GetType().Name}");
        }
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(lengthPosition), (ushort)(_position - lengthPosition - 2));
    }

    private void WriteTxtStrings(IReadOnlyList<string> strings)
    {
        // RFC 6763 section 6.1: a TXT record holds at least one string, empty if there is nothing to say.
        if (strings.Count == 0)
        {
            WriteByte(0);
            return;
        }
        foreach (var text in strings)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            if (bytes.Length > MaxTxtStringLength)
            {
                throw new FormatException($"TXT string of {bytes.Length} bytes exceeds {MaxTxtStringLength}");
            }
            WriteByte((byte)bytes.Length);
            WriteBytes(bytes);
        }
    }

    private void WriteName(string name)
    {
        var wireLength = 1;
        if (name.Length > 0)
        {
            foreach (var label in name.Split('.'))
            {
                var bytes = Encoding.UTF8.GetBytes(label);
                if (bytes.Length is 0 or > MaxLabelLength)
                {
                    throw new FormatException($"DNS label of {bytes.Length} bytes in '{name}' must be 1 to {MaxLabelLength} bytes");
                }
                wireLength += 1 + bytes.Length;
                if (wireLength > MaxNameWireLength)
                {
                    throw new FormatException($"DNS name longer than {MaxNameWireLength} bytes");
                }
                WriteByte((byte)bytes.Length);
                WriteBytes(bytes);
            }
        }
        WriteByte(0);
    }

    private void WriteUInt16(ushort value)
    {
        Reserve(2);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(_position), value);
        _position += 2;
    }

    private void WriteUInt32(uint value)
    {
        Reserve(4);
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(_position), value);
        _position += 4;
    }

    private void WriteByte(byte value)
    {
        Reserve(1);
        _buffer[_position++] = value;
    }

    private void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        Reserve(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_position));
        _position += bytes.Length;
    }

    private void Reserve(int count)
    {
        if (count > _buffer.Length - _position)
        {
            throw new FormatException($"DNS message would exceed {DnsMessage.MaxSize} bytes");
        }
    }
}
