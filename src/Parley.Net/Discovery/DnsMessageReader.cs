using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Parley.Net.Discovery;

/// <summary>Decodes one DNS message; every read is bounds-checked and every loop is bounded by the packet size.</summary>
internal ref struct DnsMessageReader
{
    /// <summary>RFC 1035 section 2.3.4: a name is at most 255 octets on the wire, length bytes and root included.</summary>
    private const int MaxNameWireLength = 255;
    private const int MinQuestionSize = 5;
    private const int MinRecordSize = 11;
    private const ushort ClassInternet = 1;
    private const ushort TopBitOfClass = 0x8000;

    private readonly ReadOnlySpan<byte> _packet;
    private int _position;

    public DnsMessageReader(ReadOnlySpan<byte> packet)
    {
        _packet = packet;
        _position = 0;
    }

    private readonly int Remaining => _packet.Length - _position;

    public DnsMessage ReadMessage()
    {
        if (_packet.Length > DnsMessage.MaxSize)
        {
            throw new FormatException($"DNS message of {_packet.Length} bytes exceeds {DnsMessage.MaxSize}");
        }
        if (_packet.Length < DnsMessage.HeaderSize)
        {
            throw new FormatException($"DNS message of {_packet.Length} bytes is shorter than its 12-byte header");
        }
        var id = ReadUInt16();
        var flags = ReadUInt16();
        var questionCount = ReadUInt16();
        var answerCount = ReadUInt16();
        var authorityCount = ReadUInt16();
        var additionalCount = ReadUInt16();
        var recordCount = answerCount + authorityCount + additionalCount;
        if (questionCount + recordCount > DnsMessage.MaxEntries)
        {
            throw new FormatException($"DNS message declares {questionCount + recordCount} entries, more than {DnsMessage.MaxEntries}");
        }
        // Refuse before allocating anything when the declared counts cannot possibly fit the bytes that follow.
        if ((questionCount * MinQuestionSize) + (recordCount * MinRecordSize) > Remaining)
        {
            throw new FormatException($"DNS message declares {questionCount} questions and {recordCount} records but has only {Remaining} bytes after its header");
        }
        var questions = new List<DnsQuestion>(questionCount);
        for (var i = 0; i < questionCount; i++)
        {
            questions.Add(ReadQuestion());
        }
        var answers = ReadRecords(answerCount);
        var authorities = ReadRecords(authorityCount);
        var additionals = ReadRecords(additionalCount);
        if (Remaining != 0)
        {
            throw new FormatException($"DNS message has {Remaining} bytes after its last record");
        }
        return new DnsMessage(id, flags, questions, answers, authorities, additionals);
    }

    private DnsQuestion ReadQuestion()
    {
        var name = ReadName();
        var type = (DnsRecordType)ReadUInt16();
        var questionClass = ReadUInt16();
        return new DnsQuestion(name, type, (questionClass & TopBitOfClass) != 0);
    }

    private List<DnsRecord> ReadRecords(int count)
    {
        var records = new List<DnsRecord>(count);
        for (var i = 0; i < count; i++)
        {
            if (ReadRecord() is { } record)
            {
                records.Add(record);
            }
        }
        return records;
    }

    /// <summary>Null for records of another class or a type discovery does not use: they are skipped, not rejected.</summary>
    private DnsRecord? ReadRecord()
    {
        var name = ReadName();
        var type = (DnsRecordType)ReadUInt16();
        var recordClass = ReadUInt16();
        var ttl = ReadUInt32();
        var dataLength = ReadUInt16();
        if (dataLength > Remaining)
        {
            throw new FormatException($"{type} record for '{Abbreviate(name)}' declares {dataLength} data bytes but only {Remaining} remain");
        }
        var dataEnd = _position + dataLength;
        var cacheFlush = (recordClass & TopBitOfClass) != 0;
        if ((recordClass & ~TopBitOfClass) != ClassInternet)
        {
            _position = dataEnd;
            return null;
        }
        DnsRecord? record = type switch
        {
            DnsRecordType.A => new AddressRecord(name, ttl, ReadAddress(dataLength, 4, type), cacheFlush),
            DnsRecordType.Aaaa => new AddressRecord(name, ttl, ReadAddress(dataLength, 16, type), cacheFlush),
            DnsRecordType.Ptr => new PtrRecord(name, ttl, ReadName(), cacheFlush),
            DnsRecordType.Txt => new TxtRecord(name, ttl, ReadTxtStrings(dataEnd), cacheFlush),
            DnsRecordType.Srv => new SrvRecord(name, ttl, ReadUInt16(), ReadUInt16(), ReadUInt16(), ReadName(), cacheFlush),
            _ => null,
        };
        if (record is null)
        {
            _position = dataEnd;
        }
        else if (_position != dataEnd)
        {
            throw new FormatException($"{type} record for '{Abbreviate(name)}' does not fill its {dataLength} data bytes exactly");
        }
        return record;
    }

    private IPAddress ReadAddress(int dataLength, int size, DnsRecordType type)
    {
        if (dataLength != size)
        {
            throw new FormatException($"{type} record data is {dataLength} bytes, not {size}");
        }
        var address = new IPAddress(_packet.Slice(_position, size));
        _position += size;
        return address;
    }

    private List<string> ReadTxtStrings(int dataEnd)
    {
        var strings = new List<string>();
        while (_position < dataEnd)
        {
            var length = _packet[_position++];
            if (length > dataEnd - _position)
            {
                throw new FormatException($"TXT string of {length} bytes overruns its record");
            }
            strings.Add(Encoding.UTF8.GetString(_packet.Slice(_position, length)));
            _position += length;
        }
        return strings;
    }

    /// <summary>
    /// Reads a possibly compressed name. Every pointer must point before the start of the run of labels that led to
    /// it, so offsets strictly decrease with each jump: loops are impossible and the work is bounded.
    /// </summary>
    private string ReadName()
    {
        var name = new StringBuilder();
        var position = _position;
        var runStart = position;
        var wireLength = 1;
        var jumped = false;
        while (true)
        {
            if (position >= _packet.Length)
            {
                throw new FormatException("DNS name runs past the end of the message");
            }
            var length = _packet[position];
            switch (length & 0xC0)
            {
                case 0x00 when length == 0:
                    if (!jumped)
                    {
                        _position = position + 1;
                    }
                    return name.ToString();
                case 0x00:
                    wireLength += 1 + length;
                    if (wireLength > MaxNameWireLength)
                    {
                        throw new FormatException($"DNS name longer than {MaxNameWireLength} bytes");
                    }
                    if (length > _packet.Length - position - 1)
                    {
                        throw new FormatException("DNS label runs past the end of the message");
                    }
                    if (name.Length > 0)
                    {
                        name.Append('.');
                    }
                    name.Append(Encoding.UTF8.GetString(_packet.Slice(position + 1, length)));
                    position += 1 + length;
                    break;
                case 0xC0:
                    if (position + 1 >= _packet.Length)
                    {
                        throw new FormatException("DNS compression pointer runs past the end of the message");
                    }
                    var target = ((length & 0x3F) << 8) | _packet[position + 1];
                    if (target >= runStart)
                    {
                        throw new FormatException($"DNS compression pointer at {position} to {target} does not point backwards");
                    }
                    if (!jumped)
                    {
                        _position = position + 2;
                        jumped = true;
                    }
                    position = target;
                    runStart = target;
                    break;
                default:
                    throw new FormatException($"DNS label type 0x{length & 0xC0:x2} is not supported");
            }
        }
    }

    private ushort ReadUInt16()
    {
        RequireRemaining(2);
        var value = BinaryPrimitives.ReadUInt16BigEndian(_packet[_position..]);
        _position += 2;
        return value;
    }

    private uint ReadUInt32()
    {
        RequireRemaining(4);
        var value = BinaryPrimitives.ReadUInt32BigEndian(_packet[_position..]);
        _position += 4;
        return value;
    }

    private readonly void RequireRemaining(int count)
    {
        if (Remaining < count)
        {
            throw new FormatException($"DNS message truncated at byte {_position}");
        }
    }

    private static string Abbreviate(string text) => text.Length <= 64 ? text : text[..64] + "...";
}
