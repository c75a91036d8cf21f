using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Chat.Groups.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>
/// One sender's symmetric ratchet for one epoch: MK_i = HMAC-SHA256(CK_i, 0x01), CK_{i+1} = HMAC-SHA256(CK_i, 0x02);
/// each message is ChaCha20-Poly1305 under key ‖ nonce = HKDF-SHA256(ikm = MK_i, salt = 32 zero bytes,
/// info "Parley_GroupMessage_v1") and signed by the chain's Ed25519 key. The sender's copy holds the signing seed;
/// a receiver's holds the public key and the keys of skipped iterations (bounded, each deleted when used).
/// </summary>
internal sealed class SenderKeyChain
{
    private const int KeySize = SenderKeyDistribution.KeySize;
    private static readonly byte[] MessageKeyInfo = "Parley_GroupMessage_v1"u8.ToArray();

    private readonly ICryptoProvider _crypto;
    private readonly byte[]? _signingSeed;
    private readonly OrderedDictionary<uint, byte[]> _skipped = [];
    private byte[] _chainKey;

    private SenderKeyChain(ICryptoProvider crypto, Id256 epoch, uint chainId, uint iteration, byte[] chainKey, byte[]? signingSeed, byte[] signingKey)
    {
        _crypto = crypto;
        Epoch = epoch;
        ChainId = chainId;
        Iteration = iteration;
        _chainKey = chainKey;
        _signingSeed = signingSeed;
        SigningKey = signingKey;
    }

    public Id256 Epoch { get; }

    public uint ChainId { get; }

    /// <summary>The iteration the current chain key belongs to: the next message sent or expected in order.</summary>
    public uint Iteration { get; private set; }

    public byte[] SigningKey { get; }

    /// <summary>The owner's signature over the chain's public part (<see cref="SenderKeyDistribution.OwnerSignedBytes"/>), once there is one.</summary>
    public byte[]? OwnerSignature { get; set; }

    /// <summary>A fresh chain for sending: random chain key, chain id and signing key pair, all from the provider.</summary>
    public static SenderKeyChain CreateOwn(ICryptoProvider crypto, Id256 epoch)
    {
        var chainKey = new byte[KeySize];
        crypto.RandomBytes(chainKey);
        Span<byte> chainId = stackalloc byte[4];
        crypto.RandomBytes(chainId);
        var (seed, publicKey) = crypto.GenerateEd25519KeyPair();
        return new SenderKeyChain(crypto, epoch, BitConverter.ToUInt32(chainId), 0, chainKey, seed, publicKey);
    }

    public static SenderKeyChain FromDistribution(ICryptoProvider crypto, SenderKeyDistribution distribution) =>
        new(crypto, distribution.Epoch, distribution.ChainId, distribution.Iteration, distribution.ChainKey.ToArray(), null, distribution.SigningKey)
        {
            OwnerSignature = distribution.OwnerSignature,
        };

    /// <summary>The chain as it stands now, for a member who should read from the next message on; it names
    /// <paramref name="owner"/> when the chain has the owner's signature.</summary>
    public SenderKeyDistribution Distribution(Id256 groupId, PublicKey owner) => DistributionAt(groupId, owner, Iteration);

    /// <summary>The chain as it stands at <paramref name="iteration"/> (this one or a later one), for a member who should
    /// read from that message on; this chain does not move.</summary>
    public SenderKeyDistribution DistributionAt(Id256 groupId, PublicKey owner, uint iteration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iteration, Iteration);
        var chainKey = _chainKey.ToArray();
        Span<byte> messageKey = stackalloc byte[KeySize];
        for (var i = Iteration; i < iteration; i++)
        {
            var next = new byte[KeySize];
            Step(_crypto, chainKey, messageKey, next);
            CryptographicOperations.ZeroMemory(chainKey);
            chainKey = next;
        }
        CryptographicOperations.ZeroMemory(messageKey);
        var distribution = OwnerSignature is null
            ? new SenderKeyDistribution(groupId, Epoch, ChainId, iteration, chainKey, SigningKey)
            : new SenderKeyDistribution(groupId, Epoch, ChainId, iteration, chainKey, SigningKey, owner, OwnerSignature);
        CryptographicOperations.ZeroMemory(chainKey);
        return distribution;
    }

    /// <summary>A copy of this receiving chain as it stands now, without its skipped keys: what an admin keeps to pass
    /// the chain on from here while it reads on.</summary>
    public SenderKeyChain PassOnCopy() => new(_crypto, Epoch, ChainId, Iteration, _chainKey.ToArray(), null, SigningKey) { OwnerSignature = OwnerSignature };

    /// <summary>Encrypts and signs the message of iteration <see cref="Iteration"/> (which <paramref name="associatedData"/>
    /// binds), then steps the chain; the message key is wiped.</summary>
    /// <exception cref="InvalidOperationException">A receiving chain, or the chain is exhausted.</exception>
    public (byte[] Ciphertext, byte[] Signature) Seal(byte[] associatedData, ReadOnlySpan<byte> plaintext)
    {
        var seed = _signingSeed ?? throw new InvalidOperationException("a receiving chain cannot send");
        if (Iteration == uint.MaxValue)
        {
            throw new InvalidOperationException("the sending chain is exhausted");
        }
        var messageKey = new byte[KeySize];
        var next = new byte[KeySize];
        Step(_crypto, _chainKey, messageKey, next);
        CryptographicOperations.ZeroMemory(_chainKey);
        _chainKey = next;
        Iteration++;
        var ciphertext = new byte[plaintext.Length + IAead.TagSize];
        Span<byte> keyAndNonce = stackalloc byte[KeySize + IAead.NonceSize];
        _crypto.HkdfSha256(messageKey, stackalloc byte[KeySize], MessageKeyInfo, keyAndNonce);
        using (var aead = _crypto.CreateChaCha20Poly1305(keyAndNonce[..KeySize]))
        {
            aead.Encrypt(keyAndNonce[KeySize..], plaintext, associatedData, ciphertext);
        }
        CryptographicOperations.ZeroMemory(keyAndNonce);
        CryptographicOperations.ZeroMemory(messageKey);
        return (ciphertext, _crypto.Ed25519Sign(seed, GroupCiphertext.SignedBytes(associatedData, ciphertext)));
    }

    /// <summary>Checks the signature, derives the key for the message's iteration (keeping the keys it skips) and
    /// decrypts. The chain changes only if the message authenticates.</summary>
    /// <exception cref="GroupMessageException">BadSignature, Replayed, TooManySkipped or AuthenticationFailed.</exception>
    public byte[] Open(GroupCiphertext message, byte[] associatedData, int maxSkip, int maxSkippedKeys)
    {
        if (!_crypto.Ed25519Verify(SigningKey, GroupCiphertext.SignedBytes(associatedData, message.Ciphertext), message.Signature))
        {
            throw new GroupMessageException(GroupMessageFailure.BadSignature, "the signature does not verify under the sender's chain key: forged, altered, or signed by someone else");
        }
        var iteration = message.Iteration;
        if (_skipped.TryGetValue(iteration, out var skippedKey))
        {
            var opened = Decrypt(skippedKey, message, associatedData);
            _skipped.Remove(iteration);
            CryptographicOperations.ZeroMemory(skippedKey);
            return opened;
        }
        if (iteration == uint.MaxValue)
        {
            throw new GroupMessageException(GroupMessageFailure.Malformed, "no message has the last iteration of a chain");
        }
        if (iteration < Iteration)
        {
            throw new GroupMessageException(GroupMessageFailure.Replayed, $"the key of iteration {iteration} was already used or deleted");
        }
        if (iteration - Iteration > maxSkip)
        {
            throw new GroupMessageException(GroupMessageFailure.TooManySkipped, $"iteration {iteration} would skip {iteration - Iteration} keys, more than {maxSkip}");
        }
        // Work on copies; commit only once the message authenticates.
        var newSkipped = new List<(uint Iteration, byte[] Key)>();
        var chainKey = _chainKey.ToArray();
        var messageKey = new byte[KeySize];
        try
        {
            for (var i = Iteration; ; i++)
            {
                var next = new byte[KeySize];
                Step(_crypto, chainKey, messageKey, next);
                CryptographicOperations.ZeroMemory(chainKey);
                chainKey = next;
                if (i == iteration)
                {
                    break;
                }
                newSkipped.Add((i, messageKey));
                messageKey = new byte[KeySize];
            }
            var plaintext = Decrypt(messageKey, message, associatedData);
            CryptographicOperations.ZeroMemory(_chainKey);
            _chainKey = chainKey;
            Iteration = iteration + 1;
            foreach (var (skippedIteration, key) in newSkipped)
            {
                _skipped[skippedIteration] = key;
            }
            newSkipped.Clear();
            while (_skipped.Count > maxSkippedKeys)
            {
                CryptographicOperations.ZeroMemory(_skipped.GetAt(0).Value);
                _skipped.RemoveAt(0);
            }
            return plaintext;
        }
        catch (GroupMessageException)
        {
            CryptographicOperations.ZeroMemory(chainKey);
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
            foreach (var (_, key) in newSkipped)
            {
                CryptographicOperations.ZeroMemory(key);
            }
        }
    }

    public SenderChainStateProto ToState()
    {
        var state = new SenderChainStateProto
        {
            Epoch = ByteString.CopyFrom(Epoch.Span),
            ChainId = ChainId,
            Iteration = Iteration,
            ChainKey = ByteString.CopyFrom(_chainKey),
            SigningKey = ByteString.CopyFrom(SigningKey),
        };
        if (_signingSeed is not null)
        {
            state.SigningSeed = ByteString.CopyFrom(_signingSeed);
        }
        if (OwnerSignature is not null)
        {
            state.OwnerSignature = ByteString.CopyFrom(OwnerSignature);
        }
        state.Skipped.AddRange(_skipped.Select(s => new SkippedGroupKeyProto { Iteration = s.Key, Key = ByteString.CopyFrom(s.Value) }));
        return state;
    }

    /// <exception cref="FormatException">A field is missing or out of bounds.</exception>
    public static SenderKeyChain FromState(ICryptoProvider crypto, SenderChainStateProto state)
    {
        if (state.ChainKey.Length != KeySize || state.SigningKey.Length != KeySize || state.SigningSeed.Length is not (0 or KeySize) || state.Skipped.Count > GroupSession.MaxSkippedKeys)
        {
            throw new FormatException("a stored sender chain is malformed");
        }
        var chain = new SenderKeyChain(
            crypto,
            Id256.FromBytes(state.Epoch.Span),
            state.ChainId,
            state.Iteration,
            state.ChainKey.ToByteArray(),
            state.SigningSeed.Length == 0 ? null : state.SigningSeed.ToByteArray(),
            state.SigningKey.ToByteArray())
        {
            OwnerSignature = state.OwnerSignature.Length == 0 ? null : state.OwnerSignature.ToByteArray(),
        };
        foreach (var skipped in state.Skipped)
        {
            if (skipped.Key.Length != KeySize)
            {
                throw new FormatException("a stored skipped key is malformed");
            }
            chain._skipped[skipped.Iteration] = skipped.Key.ToByteArray();
        }
        return chain;
    }

    public void Wipe()
    {
        CryptographicOperations.ZeroMemory(_chainKey);
        if (_signingSeed is not null)
        {
            CryptographicOperations.ZeroMemory(_signingSeed);
        }
        foreach (var key in _skipped.Values)
        {
            CryptographicOperations.ZeroMemory(key);
        }
        _skipped.Clear();
    }

    private static void Step(ICryptoProvider crypto, ReadOnlySpan<byte> chainKey, Span<byte> messageKey, Span<byte> nextChainKey)
    {
        crypto.HmacSha256(chainKey, [0x01], messageKey);
        crypto.HmacSha256(chainKey, [0x02], nextChainKey);
    }

    private byte[] Decrypt(ReadOnlySpan<byte> messageKey, GroupCiphertext message, byte[] associatedData)
    {
        Span<byte> keyAndNonce = stackalloc byte[KeySize + IAead.NonceSize];
        _crypto.HkdfSha256(messageKey, stackalloc byte[KeySize], MessageKeyInfo, keyAndNonce);
        var plaintext = new byte[message.Ciphertext.Length - IAead.TagSize];
        bool authentic;
        using (var aead = _crypto.CreateChaCha20Poly1305(keyAndNonce[..KeySize]))
        {
            authentic = aead.TryDecrypt(keyAndNonce[KeySize..], message.Ciphertext, associatedData, plaintext);
        }
        CryptographicOperations.ZeroMemory(keyAndNonce);
        return authentic ? plaintext : throw new GroupMessageException(GroupMessageFailure.AuthenticationFailed, "the message does not authenticate under its chain's key");
    }
}
