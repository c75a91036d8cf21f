using System.Buffers.Binary;
using Parley.Core.Crypto;

namespace Parley.Net.Noise;

/// <summary>
/// Noise CipherState (rev 34, section 5.1) for ChaChaPoly: a key and a 64-bit counter nonce,
/// encoded little-endian in the last 8 bytes of the 12-byte AEAD nonce. Not thread-safe; each
/// transport direction owns its own instance.
/// </summary>
internal sealed class CipherState : IDisposable
{
    public const int KeySize = 32;

    // Noise reserves 2^64-1, so the last usable nonce is 2^64-2.
    private const ulong ReservedNonce = ulong.MaxValue;

    private readonly ICryptoProvider _crypto;
    private IAead? _aead;

    public CipherState(ICryptoProvider crypto)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        _crypto = crypto;
    }

    public bool HasKey => _aead is not null;

    /// <summary>The next nonce; settable so tests can reach exhaustion without 2^64 messages.</summary>
    public ulong Nonce { get; set; }

    public void InitializeKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"a ChaChaPoly key is {KeySize} bytes", nameof(key));
        }
        _aead?.Dispose();
        _aead = _crypto.CreateChaCha20Poly1305(key);
        Nonce = 0;
    }

    /// <summary>Size of the output of <see cref="EncryptWithAd"/> for a plaintext of this length.</summary>
    public int CiphertextLength(int plaintextLength) => HasKey ? plaintextLength + IAead.TagSize : plaintextLength;

    /// <summary>Encrypts (or, before a key is set, copies) <paramref name="plaintext"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    /// <exception cref="InvalidOperationException">The nonce space is exhausted.</exception>
    public int EncryptWithAd(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        if (_aead is null)
        {
            plaintext.CopyTo(destination);
            return plaintext.Length;
        }
        Span<byte> nonce = stackalloc byte[IAead.NonceSize];
        TakeNonce(nonce);
        var length = plaintext.Length + IAead.TagSize;
        _aead.Encrypt(nonce, plaintext, associatedData, destination[..length]);
        return length;
    }

    /// <summary>
    /// Decrypts (or, before a key is set, copies) <paramref name="ciphertext"/>. Returns false when
    /// authentication fails; the nonce then stays where it was, as Noise requires.
    /// <paramref name="destination"/> may be the same memory as <paramref name="ciphertext"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The nonce space is exhausted.</exception>
    public bool TryDecryptWithAd(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> destination, out int written)
    {
        if (_aead is null)
        {
            ciphertext.CopyTo(destination);
            written = ciphertext.Length;
            return true;
        }
        written = 0;
        if (ciphertext.Length < IAead.TagSize)
        {
            return false;
        }
        if (Nonce == ReservedNonce)
        {
            throw NonceExhausted();
        }
        Span<byte> nonce = stackalloc byte[IAead.NonceSize];
        WriteNonce(nonce, Nonce);
        var length = ciphertext.Length - IAead.TagSize;
        if (!_aead.TryDecrypt(nonce, ciphertext, associatedData, destination[..length]))
        {
            return false;
        }
        Nonce++;
        written = length;
        return true;
    }

    public void Dispose()
    {
        _aead?.Dispose();
        _aead = null;
    }

    private void TakeNonce(Span<byte> nonce)
    {
        if (Nonce == ReservedNonce)
        {
            throw NonceExhausted();
        }
        WriteNonce(nonce, Nonce);
        Nonce++;
    }

    private static void WriteNonce(Span<byte> nonce, ulong counter)
    {
        nonce[..4].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[4..], counter);
    }

    private static InvalidOperationException NonceExhausted() =>
        new("noise nonce space exhausted; the session must be closed");
}
