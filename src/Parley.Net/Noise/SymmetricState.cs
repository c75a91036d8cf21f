using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Parley.Core.Crypto;

namespace Parley.Net.Noise;

/// <summary>
/// Noise SymmetricState (rev 34, section 5.2) with SHA-256. Its HKDF is built from HMAC-SHA256
/// exactly as section 4.3 defines it rather than through <see cref="ICryptoProvider.HkdfSha256"/>:
/// Split() feeds HKDF an empty input key, which OpenSSL-backed HKDF rejects.
/// </summary>
internal sealed class SymmetricState : IDisposable
{
    public const int HashLength = 32;

    private readonly ICryptoProvider _crypto;
    private readonly byte[] _chainingKey = new byte[HashLength];
    private readonly byte[] _hash = new byte[HashLength];
    private readonly CipherState _cipher;

    public SymmetricState(ICryptoProvider crypto, string protocolName)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(protocolName);
        _crypto = crypto;
        _cipher = new CipherState(crypto);
        var name = Encoding.ASCII.GetBytes(protocolName);
        if (name.Length <= HashLength)
        {
            name.CopyTo(_hash, 0);
        }
        else
        {
            crypto.Sha256(name, _hash);
        }
        _hash.CopyTo(_chainingKey, 0);
    }

    public bool HasKey => _cipher.HasKey;

    /// <summary>h: the transcript hash, usable for channel binding once the handshake is complete.</summary>
    public ReadOnlySpan<byte> HandshakeHash => _hash;

    public void MixKey(ReadOnlySpan<byte> inputKeyMaterial)
    {
        Span<byte> output = stackalloc byte[2 * HashLength];
        Hkdf(inputKeyMaterial, output);
        output[..HashLength].CopyTo(_chainingKey);
        _cipher.InitializeKey(output[HashLength..]);
        CryptographicOperations.ZeroMemory(output);
    }

    public void MixHash(ReadOnlySpan<byte> data)
    {
        var length = HashLength + data.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            _hash.CopyTo(buffer, 0);
            data.CopyTo(buffer.AsSpan(HashLength));
            _crypto.Sha256(buffer.AsSpan(0, length), _hash);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public int CiphertextLength(int plaintextLength) => _cipher.CiphertextLength(plaintextLength);

    public int EncryptAndHash(ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        var written = _cipher.EncryptWithAd(_hash, plaintext, destination);
        MixHash(destination[..written]);
        return written;
    }

    /// <summary><paramref name="destination"/> must not overlap <paramref name="ciphertext"/>, which is hashed after decryption.</summary>
    /// <exception cref="NoiseHandshakeException">Authentication failed.</exception>
    public int DecryptAndHash(ReadOnlySpan<byte> ciphertext, Span<byte> destination)
    {
        if (!_cipher.TryDecryptWithAd(_hash, ciphertext, destination, out var written))
        {
            throw new NoiseHandshakeException("noise handshake message failed authentication");
        }
        MixHash(ciphertext);
        return written;
    }

    /// <summary>The two transport CipherStates: initiator-to-responder first.</summary>
    public (CipherState InitiatorToResponder, CipherState ResponderToInitiator) Split()
    {
        Span<byte> output = stackalloc byte[2 * HashLength];
        Hkdf(ReadOnlySpan<byte>.Empty, output);
        var first = new CipherState(_crypto);
        var second = new CipherState(_crypto);
        first.InitializeKey(output[..HashLength]);
        second.InitializeKey(output[HashLength..]);
        CryptographicOperations.ZeroMemory(output);
        return (first, second);
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_chainingKey);
        _cipher.Dispose();
    }

    /// <summary>HKDF(ck, ikm) with two outputs: temp = HMAC(ck, ikm), out1 = HMAC(temp, 0x01), out2 = HMAC(temp, out1 || 0x02).</summary>
    private void Hkdf(ReadOnlySpan<byte> inputKeyMaterial, Span<byte> output)
    {
        Span<byte> tempKey = stackalloc byte[HashLength];
        Span<byte> block = stackalloc byte[HashLength + 1];
        _crypto.HmacSha256(_chainingKey, inputKeyMaterial, tempKey);
        block[0] = 0x01;
        _crypto.HmacSha256(tempKey, block[..1], output[..HashLength]);
        output[..HashLength].CopyTo(block);
        block[HashLength] = 0x02;
        _crypto.HmacSha256(tempKey, block, output[HashLength..]);
        CryptographicOperations.ZeroMemory(tempKey);
        CryptographicOperations.ZeroMemory(block);
    }
}
