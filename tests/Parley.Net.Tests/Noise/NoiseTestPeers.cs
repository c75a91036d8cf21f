using System.Buffers.Binary;
using Parley.Core.Crypto;
using Parley.Net.Noise;

namespace Parley.Net.Tests.Noise;

/// <summary>Helpers for driving one side of a handshake by hand, to play a broken or hostile peer.</summary>
internal static class NoiseTestPeers
{
    public static HandshakeState NewHandshake(bool initiator)
    {
        var (staticPrivate, _) = DefaultCryptoProvider.Instance.GenerateX25519KeyPair();
        return new HandshakeState(DefaultCryptoProvider.Instance, initiator, [], staticPrivate);
    }

    public static byte[] Frame(ReadOnlySpan<byte> message)
    {
        var frame = new byte[2 + message.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)message.Length);
        message.CopyTo(frame.AsSpan(2));
        return frame;
    }

    public static async Task WriteFrameAsync(Stream stream, byte[] message) => await stream.WriteAsync(Frame(message));

    public static async Task<byte[]> ReadFrameAsync(Stream stream)
    {
        var prefix = new byte[2];
        await stream.ReadExactlyAsync(prefix);
        var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
        await stream.ReadExactlyAsync(message);
        return message;
    }

    /// <summary>Runs a complete XX handshake in memory and returns both sides' transport ciphers.</summary>
    public static (CipherState InitiatorSend, CipherState InitiatorReceive, CipherState ResponderSend, CipherState ResponderReceive) TransportPair()
    {
        using var initiator = NewHandshake(initiator: true);
        using var responder = NewHandshake(initiator: false);
        responder.ReadMessage(initiator.WriteMessage([]));
        initiator.ReadMessage(responder.WriteMessage([]));
        responder.ReadMessage(initiator.WriteMessage([]));
        var (initiatorSend, initiatorReceive) = initiator.Split();
        var (responderSend, responderReceive) = responder.Split();
        return (initiatorSend, initiatorReceive, responderSend, responderReceive);
    }
}
