using System.Text.Json;
using Parley.Chat.Crypto;
using Parley.Chat.Crypto.Protos;
using Parley.Core.Crypto;

namespace Parley.Chat.Tests.Crypto;

/// <summary>
/// Known answers from a second, independent implementation (TestData/vectors/generate-ratchet-vectors.mjs, node:crypto
/// only): the same fixed keys must give the same bytes, and the C# side must read what the script wrote.
/// </summary>
public class RatchetVectorTests
{
    /// <summary>The vectors' scrypt (version 1) protected bytes, for tests that need old data without the file.</summary>
    internal const string ScryptProtected = "504c504b010a08010ad104939adf3b4ad7b31b809ac960770a252a6679fa6c4a9d00dc43a39eb4f23d66a91e7959924d1907fd31ac11f5937da484e8993d3fa2ca8796b3c403ea1da987952e04cefd6ecfb07472";

    private static readonly JsonElement Vectors = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "vectors", "ratchet-vectors.json"))).RootElement;
    private static readonly DefaultCryptoProvider Crypto = DefaultCryptoProvider.Instance;

    public static TheoryData<string> X3dhCases() => ["with-one-time-prekey", "without-one-time-prekey"];

    [Theory]
    [MemberData(nameof(X3dhCases))]
    public void X3dh_matches_the_independent_implementation(string name)
    {
        var vector = X3dhCase(name);
        var aliceEphemeral = Pair(vector.GetProperty("aliceEphemeral"));
        var bobOneTime = vector.GetProperty("bobOneTimePrekey").ValueKind == JsonValueKind.Null ? null : Pair(vector.GetProperty("bobOneTimePrekey"));

        var initiation = X3dh.Initiate(
            new FixedKeyCryptoProvider([aliceEphemeral.PrivateKey]),
            Hex(vector, "aliceAccountKey"),
            Pair(vector.GetProperty("aliceIdentity")),
            Hex(vector, "bobAccountKey"),
            Pair(vector.GetProperty("bobIdentity")).PublicKey,
            Pair(vector.GetProperty("bobSignedPrekey")).PublicKey,
            bobOneTime?.PublicKey ?? []);
        var response = X3dh.Respond(
            Crypto,
            Hex(vector, "bobAccountKey"),
            Pair(vector.GetProperty("bobIdentity")),
            Pair(vector.GetProperty("bobSignedPrekey")),
            bobOneTime,
            Hex(vector, "aliceAccountKey"),
            Pair(vector.GetProperty("aliceIdentity")).PublicKey,
            aliceEphemeral.PublicKey);

        Assert.Equal(Hex(vector, "sharedSecret"), initiation.SharedSecret);
        Assert.Equal(Hex(vector, "associatedData"), initiation.AssociatedData);
        Assert.Equal(aliceEphemeral.PublicKey, initiation.EphemeralPublicKey);
        Assert.Equal(Hex(vector, "sharedSecret"), response.SharedSecret);
        Assert.Equal(Hex(vector, "associatedData"), response.AssociatedData);
    }

    [Fact]
    public void Every_key_pair_in_the_vectors_is_consistent()
    {
        var pairs = new List<JsonElement>();
        foreach (var x3dh in Vectors.GetProperty("x3dh").EnumerateArray())
        {
            pairs.AddRange(x3dh.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object).Select(p => p.Value));
        }
        pairs.AddRange(Conversation.GetProperty("aliceRatchetKeys").EnumerateArray());
        pairs.AddRange(Conversation.GetProperty("bobRatchetKeys").EnumerateArray());

        Assert.All(pairs, pair => Assert.Equal(Hex(pair, "publicKey"), Crypto.X25519PublicKey(Hex(pair, "privateKey"))));
        Assert.True(pairs.Count > 10);
    }

    /// <summary>Both C# sessions run the script: every header and ciphertext they write equals the script's, every
    /// message they read decrypts, and after each step the serialized state holds the script's keys and counters.</summary>
    [Fact]
    public void Conversation_matches_the_independent_implementation_byte_for_byte()
    {
        var (alice, bob) = ConversationSessions();
        var sent = new Dictionary<string, RatchetMessage>();
        var steps = Conversation.GetProperty("steps").EnumerateArray().ToList();

        foreach (var step in steps)
        {
            var session = step.GetProperty("party").GetString() == "alice" ? alice : bob;
            var id = step.GetProperty("message").GetString()!;
            if (step.GetProperty("op").GetString() == "encrypt")
            {
                var message = session.Encrypt(Hex(step, "plaintext"));
                Assert.Equal(Hex(step, "header"), message.Header);
                Assert.Equal(Hex(step, "ciphertext"), message.Ciphertext);
                sent[id] = message;
            }
            else
            {
                Assert.Equal(Hex(step, "plaintext"), session.Decrypt(sent[id]));
            }
            AssertState(step.GetProperty("stateAfter"), session, compareSending: true);
        }
        Assert.Equal(31, steps.Count);
        Assert.Equal(1, alice.SkippedKeyCount);
        Assert.Equal(0, bob.SkippedKeyCount);
    }

    /// <summary>Sessions that only receive: they decrypt the script's own ciphertexts (receiving chains do not depend
    /// on what the receiver sent), so this reads the other implementation's output with nothing of ours in between.</summary>
    [Fact]
    public void Conversation_ciphertexts_from_the_independent_implementation_decrypt()
    {
        var (alice, bob) = ConversationSessions();
        var sent = new Dictionary<string, RatchetMessage>();
        var decrypted = 0;

        foreach (var step in Conversation.GetProperty("steps").EnumerateArray())
        {
            var id = step.GetProperty("message").GetString()!;
            if (step.GetProperty("op").GetString() == "encrypt")
            {
                sent[id] = RatchetMessage.Parse([.. Hex(step, "header"), .. Hex(step, "ciphertext")]);
                continue;
            }
            var session = step.GetProperty("party").GetString() == "alice" ? alice : bob;
            Assert.Equal(Hex(step, "plaintext"), session.Decrypt(sent[id]));
            AssertState(step.GetProperty("stateAfter"), session, compareSending: false);
            decrypted++;
        }
        Assert.Equal(15, decrypted);
    }

    [Fact]
    public void Sealed_box_matches_the_independent_implementation()
    {
        var vector = Vectors.GetProperty("sealedBox");
        var recipient = Pair(vector.GetProperty("recipientIdentity"));
        var ephemeral = Pair(vector.GetProperty("ephemeral"));

        var sealedBox = SealedBox.Seal(new FixedKeyCryptoProvider([ephemeral.PrivateKey]), recipient.PublicKey, Hex(vector, "plaintext"));

        Assert.Equal(Hex(vector, "sealed"), sealedBox);
        Assert.Equal(Hex(vector, "plaintext"), SealedBox.Open(Crypto, recipient, Hex(vector, "sealed")));
    }

    /// <summary>Version 1 (scrypt) data is no longer written but must still open: databases from before Argon2id.</summary>
    [Fact]
    public void Scrypt_passphrase_protection_of_the_independent_implementation_still_opens()
    {
        var vector = Vectors.GetProperty("passphrase");

        Assert.Equal(ScryptProtected, vector.GetProperty("protected").GetString());
        Assert.Equal(Hex(vector, "secret"), PassphraseProtection.Unprotect(Crypto, vector.GetProperty("passphrase").GetString()!, Hex(vector, "protected")));
    }

    [Fact]
    public void Argon2id_passphrase_protection_matches_the_independent_implementation()
    {
        var vector = Vectors.GetProperty("passphraseArgon2id");
        var passphrase = vector.GetProperty("passphrase").GetString()!;
        var cost = new Argon2Cost(vector.GetProperty("memoryKib").GetInt32(), vector.GetProperty("passes").GetInt32());
        var crypto = new FixedKeyCryptoProvider([], [Hex(vector, "salt"), Hex(vector, "nonce")]);

        var protectedBytes = PassphraseProtection.Protect(crypto, passphrase, Hex(vector, "secret"), cost);

        Assert.Equal(Hex(vector, "protected"), protectedBytes);
        Assert.Equal(Hex(vector, "secret"), PassphraseProtection.Unprotect(Crypto, passphrase, Hex(vector, "protected")));
    }

    private static JsonElement Conversation => Vectors.GetProperty("conversation");

    private static (RatchetSession Alice, RatchetSession Bob) ConversationSessions()
    {
        var x3dh = X3dhCase(Conversation.GetProperty("x3dh").GetString()!);
        var aliceKeys = new FixedKeyCryptoProvider(Conversation.GetProperty("aliceRatchetKeys").EnumerateArray().Select(p => Hex(p, "privateKey")));
        var bobKeys = new FixedKeyCryptoProvider(Conversation.GetProperty("bobRatchetKeys").EnumerateArray().Select(p => Hex(p, "privateKey")));
        var bobSignedPrekey = Pair(x3dh.GetProperty("bobSignedPrekey"));
        var alice = RatchetSession.InitializeAsInitiator(aliceKeys, Hex(x3dh, "sharedSecret"), Hex(x3dh, "associatedData"), bobSignedPrekey.PublicKey);
        var bob = RatchetSession.InitializeAsResponder(bobKeys, Hex(x3dh, "sharedSecret"), Hex(x3dh, "associatedData"), bobSignedPrekey);
        return (alice, bob);
    }

    private static void AssertState(JsonElement expected, RatchetSession session, bool compareSending)
    {
        var state = RatchetSessionState.Parser.ParseFrom(session.Serialize());
        Assert.Equal(Hex(expected, "rootKey"), state.RootKey.ToByteArray());
        Assert.Equal(Hex(expected, "ratchetPublicKey"), Crypto.X25519PublicKey(state.SendingRatchetPrivateKey.ToByteArray()));
        Assert.Equal(Hex(expected, "remoteRatchetKey"), state.RemoteRatchetKey.ToByteArray());
        Assert.Equal(Hex(expected, "receivingChainKey"), state.ReceivingChainKey.ToByteArray());
        Assert.Equal(expected.GetProperty("receivingIndex").GetUInt32(), state.ReceivingIndex);
        Assert.Equal(expected.GetProperty("skippedKeyCount").GetInt32(), session.SkippedKeyCount);
        if (compareSending)
        {
            Assert.Equal(Hex(expected, "sendingChainKey"), state.SendingChainKey.ToByteArray());
            Assert.Equal(expected.GetProperty("sendingIndex").GetUInt32(), state.SendingIndex);
            Assert.Equal(expected.GetProperty("previousSendingCount").GetUInt32(), state.PreviousSendingCount);
        }
    }

    private static JsonElement X3dhCase(string name) =>
        Vectors.GetProperty("x3dh").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static X25519KeyPair Pair(JsonElement pair) => new(Hex(pair, "privateKey"), Hex(pair, "publicKey"));

    private static byte[] Hex(JsonElement element, string property) => Convert.FromHexString(element.GetProperty(property).GetString()!);
}
