using System.Text;
using Google.Protobuf;

namespace Parley.Chat.Files;

/// <summary>
/// A file's manifest (docs/files.md), checked field by field: what the recipient shows (name, size, type, thumbnail)
/// and what it needs to fetch and check the chunks (their size and hashes, the key). The name is cleaned on parsing
/// (<see cref="SafeFileName"/>), so what is shown is what would be saved.
/// </summary>
public sealed class FileManifest
{
    public const int FileIdLength = 32;
    public const int KeyLength = 32;
    public const int HashLength = 32;

    /// <summary>Chunk hashes travel in the manifest up to this many chunks; beyond, pages of hashes are listed.</summary>
    public const int MaxInlineChunks = 256;

    public const int HashesPerPage = 1024;

    /// <summary>512 pages of 1,024 chunks of 256 KiB: files up to 128 GiB.</summary>
    public const int MaxPages = 512;

    public const int MaxThumbnailBytes = 16 * 1024;
    public const int MaxNameBytes = 255;
    public const int MinChunkSize = 16 * 1024;
    public const int MaxChunkSize = 1024 * 1024;

    /// <summary>Bound on the encoded manifest, so that it fits one envelope, a room message and a mailbox.</summary>
    public const int MaxEncodedBytes = 40 * 1024;

    public const string DefaultMediaType = "application/octet-stream";

    private FileManifest(Protos.FileManifest proto, string name, string mediaType, int chunkCount, string? thumbnailType)
    {
        Proto = proto;
        Name = name;
        MediaType = mediaType;
        ChunkCount = chunkCount;
        ThumbnailType = thumbnailType;
    }

    /// <summary>The wire form as received (or built).</summary>
    public Protos.FileManifest Proto { get; }

    public ReadOnlySpan<byte> FileId => Proto.FileId.Span;

    /// <summary>The cleaned name.</summary>
    public string Name { get; }

    public long Size => (long)Proto.Size;

    public string MediaType { get; }

    public int ChunkSize => (int)Proto.ChunkSize;

    public int ChunkCount { get; }

    public ReadOnlySpan<byte> Key => Proto.Key.Span;

    public bool Pushed => Proto.Pushed;

    /// <summary>The thumbnail's image type (image/jpeg or image/webp), or null without one.</summary>
    public string? ThumbnailType { get; }

    public ReadOnlyMemory<byte> Thumbnail => Proto.Thumbnail.Memory;

    public bool HasInlineHashes => Proto.ChunkHashes.Count > 0;

    public int PageCount => (ChunkCount + HashesPerPage - 1) / HashesPerPage;

    /// <summary>Builds a manifest for a file we send.</summary>
    /// <exception cref="ArgumentException">A field out of bounds.</exception>
    public static FileManifest Create(byte[] fileId, string name, long size, string mediaType, int chunkSize, IReadOnlyList<byte[]> chunkHashes, byte[] key, byte[]? thumbnail, bool pushed)
    {
        ArgumentNullException.ThrowIfNull(chunkHashes);
        var proto = new Protos.FileManifest
        {
            FileId = ByteString.CopyFrom(fileId),
            Name = name,
            Size = (ulong)size,
            MediaType = NormalizeMediaType(mediaType),
            ChunkSize = (uint)chunkSize,
            Key = ByteString.CopyFrom(key),
            Thumbnail = thumbnail is null ? ByteString.Empty : ByteString.CopyFrom(thumbnail),
            Pushed = pushed,
        };
        if (chunkHashes.Count <= MaxInlineChunks)
        {
            proto.ChunkHashes.AddRange(chunkHashes.Select(ByteString.CopyFrom));
        }
        else
        {
            proto.HashPages.AddRange(chunkHashes.Chunk(HashesPerPage).Select(page => ByteString.CopyFrom(PageHash(page.SelectMany(h => h).ToArray()))));
        }
        try
        {
            return Parse(proto);
        }
        catch (FormatException e)
        {
            throw new ArgumentException(e.Message, nameof(name), e);
        }
    }

    /// <exception cref="FormatException">Malformed or out of bounds; the message says which field.</exception>
    public static FileManifest Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxEncodedBytes)
        {
            throw new FormatException($"a file manifest is at most {MaxEncodedBytes} bytes");
        }
        try
        {
            return Parse(Protos.FileManifest.Parser.ParseFrom(bytes));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FormatException($"malformed file manifest: {e.Message}", e);
        }
    }

    /// <exception cref="FormatException">Out of bounds; the message says which field.</exception>
    public static FileManifest Parse(Protos.FileManifest proto)
    {
        ArgumentNullException.ThrowIfNull(proto);
        if (proto.CalculateSize() > MaxEncodedBytes)
        {
            throw new FormatException($"a file manifest is at most {MaxEncodedBytes} bytes");
        }
        if (proto.FileId.Length != FileIdLength)
        {
            throw new FormatException("the file id is not 32 bytes");
        }
        if (proto.Key.Length != KeyLength)
        {
            throw new FormatException("the file key is not 32 bytes");
        }
        if (Encoding.UTF8.GetByteCount(proto.Name) > MaxNameBytes)
        {
            throw new FormatException($"the file name is longer than {MaxNameBytes} bytes");
        }
        if (proto.ChunkSize is < MinChunkSize or > MaxChunkSize)
        {
            throw new FormatException($"the chunk size {proto.ChunkSize} is outside {MinChunkSize}..{MaxChunkSize}");
        }
        if (proto.Size == 0)
        {
            throw new FormatException("the file is empty");
        }
        var chunks = (proto.Size + proto.ChunkSize - 1) / proto.ChunkSize;
        if (chunks > (ulong)MaxPages * HashesPerPage)
        {
            throw new FormatException($"the file has {chunks} chunks; at most {MaxPages * HashesPerPage} are allowed");
        }
        var chunkCount = (int)chunks;
        if (proto.ChunkHashes.Count > 0 && proto.HashPages.Count > 0)
        {
            throw new FormatException("the manifest lists both chunk hashes and hash pages");
        }
        if (proto.ChunkHashes.Count > 0 ? proto.ChunkHashes.Count != chunkCount || chunkCount > MaxInlineChunks
            : proto.HashPages.Count != (chunkCount + HashesPerPage - 1) / HashesPerPage || chunkCount <= MaxInlineChunks)
        {
            throw new FormatException($"the manifest's hashes do not fit a file of {chunkCount} chunks");
        }
        if (proto.ChunkHashes.Concat(proto.HashPages).Any(h => h.Length != HashLength))
        {
            throw new FormatException("a hash is not 32 bytes");
        }
        if (proto.Thumbnail.Length > MaxThumbnailBytes)
        {
            throw new FormatException($"the thumbnail is larger than {MaxThumbnailBytes} bytes");
        }
        string? thumbnailType = null;
        if (proto.Thumbnail.Length > 0)
        {
            thumbnailType = ThumbnailTypeOf(proto.Thumbnail.Span) ?? throw new FormatException("the thumbnail is not a JPEG or WebP image");
        }
        return new FileManifest(proto, SafeFileName.Clean(proto.Name), NormalizeMediaType(proto.MediaType), chunkCount, thumbnailType);
    }

    /// <summary>
    /// The type of a thumbnail: only JPEG or WebP, what the sending node makes (docs/files.md), so the receiver hands
    /// the browser a type it names from the bytes, never one the sender chose.
    /// </summary>
    public static string? ThumbnailTypeOf(ReadOnlySpan<byte> bytes) => ImageType(bytes) is "image/jpeg" or "image/webp" ? ImageType(bytes) : null;

    /// <summary>The image type that <paramref name="bytes"/> start like, or null.</summary>
    public static string? ImageType(ReadOnlySpan<byte> bytes) => bytes switch
    {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => "image/png",
        [(byte)'G', (byte)'I', (byte)'F', (byte)'8', (byte)'7' or (byte)'9', (byte)'a', ..] => "image/gif",
        [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => "image/webp",
        _ => null,
    };

    /// <summary>A media type as "type/subtype" in lower case; anything else is application/octet-stream.</summary>
    public static string NormalizeMediaType(string? mediaType)
    {
        var value = (mediaType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        var valid = value.Length is > 2 and <= 127 && slash > 0 && slash < value.Length - 1 && value.IndexOf('/', slash + 1) < 0
            && value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '/' or '.' or '+' or '-' or '_');
        return valid ? value : DefaultMediaType;
    }

    /// <summary>SHA-256 of one page of concatenated chunk hashes.</summary>
    public static byte[] PageHash(ReadOnlySpan<byte> page) => System.Security.Cryptography.SHA256.HashData(page);

    /// <summary>How many chunks page <paramref name="page"/> lists.</summary>
    public int PageLength(int page) => Math.Min(HashesPerPage, ChunkCount - (page * HashesPerPage));

    /// <summary>Plaintext length of chunk <paramref name="index"/>.</summary>
    public int ChunkLength(int index) => (int)Math.Min(ChunkSize, Size - ((long)index * ChunkSize));

    public long Offset(int index) => (long)index * ChunkSize;

    public byte[] ToBytes() => Proto.ToByteArray();
}
