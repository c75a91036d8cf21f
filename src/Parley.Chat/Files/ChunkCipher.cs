using System.Buffers.Binary;
using Parley.Core.Crypto;

namespace Parley.Chat.Files;

/// <summary>
/// Encrypts and decrypts a file's chunks: ChaCha20-Poly1305 under the file's random key, the nonce the chunk's index
/// (4 zero bytes, then the index as 8 bytes big-endian: unique under a key used for one file only), and as associated
/// data a domain string, the file id and the index, so that a chunk cannot pass for another chunk or another file's.
/// Encryption is deterministic, so every holder of a chunk produces the same ciphertext, whose SHA-256 the manifest
/// lists. One instance per transfer (the AEAD is not shared across threads).
/// </summary>
internal sealed class ChunkCipher : IDisposable
{
    public const int Overhead = IAead.TagSize;

    private static readonly byte[] Domain = "parley-file-chunk:"u8.ToArray();

    private readonly IAead _aead;
    private readonly byte[] _associatedData;
    private readonly byte[] _nonce = new byte[IAead.NonceSize];

    public ChunkCipher(ICryptoProvider crypto, ReadOnlySpan<byte> key, ReadOnlySpan<byte> fileId)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        _aead = crypto.CreateChaCha20Poly1305(key);
        _associatedData = new byte[Domain.Length + fileId.Length + 8];
        Domain.CopyTo(_associatedData, 0);
        fileId.CopyTo(_associatedData.AsSpan(Domain.Length));
    }

    public static ChunkCipher For(ICryptoProvider crypto, FileManifest manifest) => new(crypto, manifest.Key, manifest.FileId);

    /// <summary>Writes the ciphertext and tag of chunk <paramref name="index"/> (plaintext length + 16 bytes).</summary>
    public void Encrypt(int index, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        Bind(index);
        _aead.Encrypt(_nonce, plaintext, _associatedData, destination);
    }

    /// <summary>False when the ciphertext is not chunk <paramref name="index"/> of this file under this key.</summary>
    public bool TryDecrypt(int index, ReadOnlySpan<byte> ciphertext, Span<byte> destination)
    {
        Bind(index);
        return ciphertext.Length >= Overhead && _aead.TryDecrypt(_nonce, ciphertext, _associatedData, destination);
    }

    public void Dispose() => _aead.Dispose();

    private void Bind(int index)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_nonce.AsSpan(4), (ulong)index);
        BinaryPrimitives.WriteUInt64BigEndian(_associatedData.AsSpan(_associatedData.Length - 8), (ulong)index);
    }
}
