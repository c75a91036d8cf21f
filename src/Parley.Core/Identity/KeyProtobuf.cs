namespace Parley.Core.Identity;

/// <summary>
/// The two-field libp2p key protobuf, written by hand because the peer-id spec requires one exact
/// deterministic encoding (field 1 then field 2, minimal varints) for the bytes that get hashed.
/// </summary>
internal static class KeyProtobuf
{
    private const byte TypeTag = 0x08; // field 1, varint
    private const byte DataTag = 0x12; // field 2, length-delimited

    public static byte[] Encode(KeyType type, ReadOnlySpan<byte> data)
    {
        var lengthSize = Multiformats.Varint.SizeOf((ulong)data.Length);
        var result = new byte[2 + 1 + lengthSize + data.Length];
        result[0] = TypeTag;
        result[1] = (byte)type;
        result[2] = DataTag;
        Multiformats.Varint.Write((ulong)data.Length, result.AsSpan(3));
        data.CopyTo(result.AsSpan(3 + lengthSize));
        return result;
    }

    public static (KeyType Type, byte[] Data) Decode(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length < 4 || encoded[0] != TypeTag || encoded[2] != DataTag || encoded[1] > (byte)KeyType.Ecdsa)
        {
            throw new FormatException("not a libp2p key protobuf (Type then Data)");
        }
        var length = Multiformats.Varint.Read(encoded[3..], out var lengthSize);
        if ((ulong)(encoded.Length - 3 - lengthSize) != length)
        {
            throw new FormatException("libp2p key protobuf length does not match its data");
        }
        return ((KeyType)encoded[1], encoded[(3 + lengthSize)..].ToArray());
    }
}
