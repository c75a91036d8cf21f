using System.Buffers.Binary;
using System.Security.Cryptography;
using Parley.Core.Crypto;

namespace Parley.Chat.Crypto;

/// <summary>What the responder derives: the shared secret SK and the associated data AD for the ratchet.</summary>
public sealed record X3dhSecret(byte[] SharedSecret, byte[] AssociatedData);

/// <summary>What the initiator derives, plus the ephemeral public key EK_A she must send to the responder.</summary>
public sealed record X3dhInitiation(byte[] SharedSecret, byte[] AssociatedData, byte[] EphemeralPublicKey);

/// <summary>
/// X3DH (Signal's specification) with X25519, as in docs/chat.md section 3 and docs/ratchet.md:
/// SK = HKDF-SHA256(ikm = 32 × 0xFF ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], salt = 32 zero bytes, info "Parley_X3DH_v1") → 32 bytes;
/// AD = "parley-x3dh-ad:" ‖ each of account_A, IK_A, account_B, IK_B prefixed by its uint32 big-endian length.
/// Verifying the prekey signatures and the identity DH certificates is the caller's job, before calling.
/// </summary>
public static class X3dh
{
    public const int SharedSecretSize = 32;

    private static readonly byte[] Info = "Parley_X3DH_v1"u8.ToArray();
    private static readonly byte[] AdDomain = "parley-x3dh-ad:"u8.ToArray();

    /// <summary>Alice's side. The ephemeral key comes from <paramref name="crypto"/>; its private half is wiped before returning.</summary>
    /// <exception cref="RatchetException">One of the responder's keys is not a usable X25519 public key.</exception>
    public static X3dhInitiation Initiate(
        ICryptoProvider crypto,
        ReadOnlySpan<byte> initiatorAccountKey,
        X25519KeyPair initiatorIdentity,
        ReadOnlySpan<byte> responderAccountKey,
        ReadOnlySpan<byte> responderIdentityDhKey,
        ReadOnlySpan<byte> responderSignedPrekey,
        ReadOnlySpan<byte> responderOneTimePrekey)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(initiatorIdentity);
        RequireAccountKey(initiatorAccountKey, nameof(initiatorAccountKey));
        RequireAccountKey(responderAccountKey, nameof(responderAccountKey));
        var ephemeral = X25519KeyPair.Generate(crypto);
        Span<byte> ikm = stackalloc byte[32 * 5];
        try
        {
            var hasOneTime = !responderOneTimePrekey.IsEmpty;
            ikm[..32].Fill(0xFF);
            Agree(crypto, initiatorIdentity.PrivateKey, responderSignedPrekey, "responder signed prekey", ikm.Slice(32, 32));
            Agree(crypto, ephemeral.PrivateKey, responderIdentityDhKey, "responder identity DH key", ikm.Slice(64, 32));
            Agree(crypto, ephemeral.PrivateKey, responderSignedPrekey, "responder signed prekey", ikm.Slice(96, 32));
            if (hasOneTime)
            {
                Agree(crypto, ephemeral.PrivateKey, responderOneTimePrekey, "responder one-time prekey", ikm.Slice(128, 32));
            }
            var secret = DeriveSecret(crypto, ikm[..(hasOneTime ? 160 : 128)]);
            var ad = AssociatedData(initiatorAccountKey, initiatorIdentity.PublicKey, responderAccountKey, responderIdentityDhKey);
            return new X3dhInitiation(secret, ad, ephemeral.PublicKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ikm);
            ephemeral.ZeroPrivateKey();
        }
    }

    /// <summary>Bob's side, from Alice's identity DH key and ephemeral key. <paramref name="oneTimePrekey"/> is null when she used none.</summary>
    /// <exception cref="RatchetException">One of the initiator's keys is not a usable X25519 public key.</exception>
    public static X3dhSecret Respond(
        ICryptoProvider crypto,
        ReadOnlySpan<byte> responderAccountKey,
        X25519KeyPair responderIdentity,
        X25519KeyPair signedPrekey,
        X25519KeyPair? oneTimePrekey,
        ReadOnlySpan<byte> initiatorAccountKey,
        ReadOnlySpan<byte> initiatorIdentityDhKey,
        ReadOnlySpan<byte> initiatorEphemeralKey)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(responderIdentity);
        ArgumentNullException.ThrowIfNull(signedPrekey);
        RequireAccountKey(initiatorAccountKey, nameof(initiatorAccountKey));
        RequireAccountKey(responderAccountKey, nameof(responderAccountKey));
        Span<byte> ikm = stackalloc byte[32 * 5];
        try
        {
            ikm[..32].Fill(0xFF);
            Agree(crypto, signedPrekey.PrivateKey, initiatorIdentityDhKey, "initiator identity DH key", ikm.Slice(32, 32));
            Agree(crypto, responderIdentity.PrivateKey, initiatorEphemeralKey, "initiator ephemeral key", ikm.Slice(64, 32));
            Agree(crypto, signedPrekey.PrivateKey, initiatorEphemeralKey, "initiator ephemeral key", ikm.Slice(96, 32));
            if (oneTimePrekey is not null)
            {
                Agree(crypto, oneTimePrekey.PrivateKey, initiatorEphemeralKey, "initiator ephemeral key", ikm.Slice(128, 32));
            }
            var secret = DeriveSecret(crypto, ikm[..(oneTimePrekey is null ? 128 : 160)]);
            var ad = AssociatedData(initiatorAccountKey, initiatorIdentityDhKey, responderAccountKey, responderIdentity.PublicKey);
            return new X3dhSecret(secret, ad);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ikm);
        }
    }

    /// <summary>
    /// The associated data of a session started by one device of a linked account (docs/devices.md): AD ‖ len ‖ the
    /// initiating device's key, so that the session belongs to that device and to no other of the account.
    /// </summary>
    internal static byte[] WithInitiatorDevice(byte[] associatedData, ReadOnlySpan<byte> initiatorDevice)
    {
        var bound = new byte[associatedData.Length + 4 + initiatorDevice.Length];
        associatedData.CopyTo(bound, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bound.AsSpan(associatedData.Length), (uint)initiatorDevice.Length);
        initiatorDevice.CopyTo(bound.AsSpan(associatedData.Length + 4));
        return bound;
    }

    /// <summary>"parley-x3dh-ad:" ‖ len ‖ account_A ‖ len ‖ IK_A ‖ len ‖ account_B ‖ len ‖ IK_B (uint32 big-endian lengths).</summary>
    internal static byte[] AssociatedData(ReadOnlySpan<byte> accountA, ReadOnlySpan<byte> identityA, ReadOnlySpan<byte> accountB, ReadOnlySpan<byte> identityB)
    {
        var ad = new byte[AdDomain.Length + 16 + accountA.Length + identityA.Length + accountB.Length + identityB.Length];
        AdDomain.CopyTo(ad, 0);
        var offset = Write(ad, AdDomain.Length, accountA);
        offset = Write(ad, offset, identityA);
        offset = Write(ad, offset, accountB);
        Write(ad, offset, identityB);
        return ad;

        static int Write(byte[] destination, int offset, ReadOnlySpan<byte> part)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination.AsSpan(offset), (uint)part.Length);
            part.CopyTo(destination.AsSpan(offset + 4));
            return offset + 4 + part.Length;
        }
    }

    /// <summary>X25519 with the peer's key checked; a bad peer key is the peer's fault, so it is a <see cref="RatchetException"/>.</summary>
    internal static void Agree(ICryptoProvider crypto, ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> peerPublicKey, string what, Span<byte> destination)
    {
        if (peerPublicKey.Length != X25519KeyPair.KeySize)
        {
            throw new RatchetException(RatchetFailure.InvalidKey, $"the {what} must be {X25519KeyPair.KeySize} bytes, got {peerPublicKey.Length}");
        }
        byte[] shared;
        try
        {
            shared = crypto.X25519Agree(privateKey, peerPublicKey);
        }
        catch (CryptographicException e)
        {
            throw new RatchetException(RatchetFailure.InvalidKey, $"the {what} is a low-order point", e);
        }
        shared.CopyTo(destination);
        CryptographicOperations.ZeroMemory(shared);
    }

    private static byte[] DeriveSecret(ICryptoProvider crypto, ReadOnlySpan<byte> ikm)
    {
        var secret = new byte[SharedSecretSize];
        crypto.HkdfSha256(ikm, stackalloc byte[32], Info, secret);
        return secret;
    }

    private static void RequireAccountKey(ReadOnlySpan<byte> accountKey, string name)
    {
        if (accountKey.IsEmpty)
        {
            throw new ArgumentException("the account key is empty", name);
        }
    }
}
