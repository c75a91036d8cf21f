using System.Text.Json;
using Parley.Core.Crypto;
using Parley.Net.Noise;

namespace Parley.Net.Tests.Noise;

/// <summary>Noise_XX_25519_ChaChaPoly_SHA256 known-answer vectors from cacophony and snow (see the data file's "source").</summary>
public sealed class NoiseVectorTests
{
    private const string VectorFile = "TestData/noise/noise-xx-25519-chachapoly-sha256.json";
    private const int HandshakeMessageCount = 3;

    public static TheoryData<int> VectorIndexes()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < LoadVectors().GetArrayLength(); i++)
        {
            data.Add(i);
        }
        return data;
    }

    [Fact]
    public void Vector_file_holds_only_xx_25519_chachapoly_sha256_without_psk()
    {
        var vectors = LoadVectors();
        Assert.True(vectors.GetArrayLength() >= 2);
        foreach (var vector in vectors.EnumerateArray())
        {
            Assert.Equal(HandshakeState.ProtocolName, ProtocolName(vector));
            Assert.Equal(0, OptionalArrayLength(vector, "init_psks"));
            Assert.Equal(0, OptionalArrayLength(vector, "resp_psks"));
        }
    }

    [Theory]
    [MemberData(nameof(VectorIndexes))]
    public void Every_message_matches_the_vector_byte_for_byte(int index)
    {
        var vector = LoadVectors()[index];
        var crypto = DefaultCryptoProvider.Instance;
        using var initiator = new HandshakeState(crypto, initiator: true, Hex(vector, "init_prologue"), Hex(vector, "init_static"), Hex(vector, "init_ephemeral"));
        using var responder = new HandshakeState(crypto, initiator: false, Hex(vector, "resp_prologue"), Hex(vector, "resp_static"), Hex(vector, "resp_ephemeral"));

        var messages = vector.GetProperty("messages").EnumerateArray().ToArray();
        Assert.True(messages.Length > HandshakeMessageCount, "a vector should include transport messages");
        for (var i = 0; i < HandshakeMessageCount; i++)
        {
            var (sender, receiver) = i % 2 == 0 ? (initiator, responder) : (responder, initiator);
            var payload = Hex(messages[i], "payload");
            var message = sender.WriteMessage(payload);
            Assert.Equal(HexString(messages[i], "ciphertext"), Convert.ToHexStringLower(message));
            Assert.Equal(payload, receiver.ReadMessage(message));
        }

        Assert.True(initiator.IsComplete);
        Assert.True(responder.IsComplete);
        Assert.Equal(initiator.HandshakeHash.ToArray(), responder.HandshakeHash.ToArray());
        if (vector.TryGetProperty("handshake_hash", out var handshakeHash))
        {
            Assert.Equal(handshakeHash.GetString(), Convert.ToHexStringLower(initiator.HandshakeHash));
        }
        Assert.Equal(crypto.X25519PublicKey(Hex(vector, "resp_static")), initiator.RemoteStaticPublicKey.ToArray());
        Assert.Equal(crypto.X25519PublicKey(Hex(vector, "init_static")), responder.RemoteStaticPublicKey.ToArray());

        var (initiatorSend, initiatorReceive) = initiator.Split();
        var (responderSend, responderReceive) = responder.Split();
        using (initiatorSend)
        using (initiatorReceive)
        using (responderSend)
        using (responderReceive)
        {
            for (var i = HandshakeMessageCount; i < messages.Length; i++)
            {
                var (send, receive) = i % 2 == 0 ? (initiatorSend, responderReceive) : (responderSend, initiatorReceive);
                var payload = Hex(messages[i], "payload");
                var ciphertext = new byte[send.CiphertextLength(payload.Length)];
                send.EncryptWithAd(ReadOnlySpan<byte>.Empty, payload, ciphertext);
                Assert.Equal(HexString(messages[i], "ciphertext"), Convert.ToHexStringLower(ciphertext));

                var plaintext = new byte[payload.Length];
                Assert.True(receive.TryDecryptWithAd(ReadOnlySpan<byte>.Empty, ciphertext, plaintext, out var written));
                Assert.Equal(payload.Length, written);
                Assert.Equal(payload, plaintext);
            }
        }
    }

    private static JsonElement LoadVectors()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, VectorFile)));
        return document.RootElement.GetProperty("vectors").Clone();
    }

    // cacophony names the protocol "name", snow "protocol_name".
    private static string? ProtocolName(JsonElement vector) =>
        vector.TryGetProperty("protocol_name", out var name) ? name.GetString() : vector.GetProperty("name").GetString();

    private static int OptionalArrayLength(JsonElement vector, string property) =>
        vector.TryGetProperty(property, out var value) ? value.GetArrayLength() : 0;

    private static string HexString(JsonElement element, string property) => element.GetProperty(property).GetString()!;

    private static byte[] Hex(JsonElement element, string property) => Convert.FromHexString(HexString(element, property));
}
