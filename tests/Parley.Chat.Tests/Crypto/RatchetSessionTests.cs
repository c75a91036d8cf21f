using Google.Protobuf;
using Parley.Chat.Crypto;
using Parley.Chat.Crypto.Protos;

namespace Parley.Chat.Tests.Crypto;

public class RatchetSessionTests
{
    [Fact]
    public void Long_conversation_in_both_directions()
    {
        var pair = SessionPair.Create();
        var random = new Random(1);

        for (var round = 0; round < 300; round++)
        {
            var (sender, receiver) = random.Next(2) == 0 ? (pair.Alice, pair.Bob) : (pair.Bob, pair.Alice);
            for (var i = random.Next(1, 4); i > 0; i--)
            {
                var plaintext = new byte[random.Next(0, 300)];
                random.NextBytes(plaintext);
                Assert.Equal(plaintext, receiver.Decrypt(sender.Encrypt(plaintext)));
            }
        }
        Assert.Equal(0, pair.Alice.SkippedKeyCount);
        Assert.Equal(0, pair.Bob.SkippedKeyCount);
    }

    [Fact]
    public void Responder_cannot_send_before_the_first_message_arrives()
    {
        var crypto = SessionPair.Crypto;
        var signedPrekey = X25519KeyPair.Generate(crypto);
        var bob = RatchetSession.InitializeAsResponder(crypto, new byte[32], [1, 2, 3], signedPrekey);

        Assert.False(bob.CanEncrypt);
        Assert.Throws<InvalidOperationException>(() => bob.Encrypt([1]));
    }

    [Fact]
    public void Responder_keeps_the_callers_signed_prekey_intact()
    {
        var crypto = SessionPair.Crypto;
        var signedPrekey = X25519KeyPair.Generate(crypto);
        var privateKey = signedPrekey.PrivateKey.ToArray();
        var alice = RatchetSession.InitializeAsInitiator(crypto, new byte[32], [1], signedPrekey.PublicKey);
        var bob = RatchetSession.InitializeAsResponder(crypto, new byte[32], [1], signedPrekey);

        bob.Decrypt(alice.Encrypt([1]));
        alice.Decrypt(bob.Encrypt([2]));

        Assert.Equal(privateKey, signedPrekey.PrivateKey);
    }

    [Fact]
    public void Out_of_order_delivery_within_and_across_chains()
    {
        var pair = SessionPair.Create();
        var random = new Random(2);
        var inFlight = new List<(RatchetMessage Message, byte[] Plaintext)>();
        for (var chain = 0; chain < 4; chain++)
        {
            for (var i = 0; i < 6; i++)
            {
                var plaintext = Bytes.Text($"chain {chain} message {i}");
                inFlight.Add((pair.Alice.Encrypt(plaintext), plaintext));
            }
            // One of Bob's replies per chain makes Alice start a new sending chain (a DH ratchet step).
            var first = inFlight[^6];
            Assert.Equal(first.Plaintext, pair.Bob.Decrypt(first.Message));
            inFlight.Remove(first);
            pair.Alice.Decrypt(pair.Bob.Encrypt(Bytes.Text("ack")));
        }

        foreach (var (message, plaintext) in inFlight.OrderBy(_ => random.Next()))
        {
            Assert.Equal(plaintext, pair.Bob.Decrypt(message));
        }
        Assert.Equal(0, pair.Bob.SkippedKeyCount);
    }

    [Fact]
    public void Dropped_messages_leave_later_ones_readable_and_their_keys_kept()
    {
        var pair = SessionPair.Create();
        var messages = Enumerable.Range(0, 5).Select(i => pair.Alice.Encrypt([(byte)i])).ToArray();

        Assert.Equal([0], pair.Bob.Decrypt(messages[0]));
        Assert.Equal([4], pair.Bob.Decrypt(messages[4]));
        Assert.Equal(3, pair.Bob.SkippedKeyCount);

        pair.Alice.Decrypt(pair.Bob.Encrypt([9]));
        Assert.Equal([5], pair.Bob.Decrypt(pair.Alice.Encrypt([5])));
        Assert.Equal(3, pair.Bob.SkippedKeyCount);
        Assert.Equal([2], pair.Bob.Decrypt(messages[2]));
        Assert.Equal(2, pair.Bob.SkippedKeyCount);
    }

    [Fact]
    public void Replayed_message_is_refused_and_the_session_is_unchanged()
    {
        var pair = SessionPair.Create();
        var first = pair.Alice.Encrypt([1]);
        var second = pair.Alice.Encrypt([2]);
        var third = pair.Alice.Encrypt([3]);
        pair.Bob.Decrypt(first);
        pair.Bob.Decrypt(third);
        pair.Bob.Decrypt(second);

        foreach (var replay in new[] { first, second, third })
        {
            var before = pair.Bob.Serialize();
            var error = Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(replay));
            Assert.Equal(RatchetFailure.Replayed, error.Reason);
            Assert.Equal(before, pair.Bob.Serialize());
        }
        Assert.Equal([4], pair.Bob.Decrypt(pair.Alice.Encrypt([4])));
    }

    [Fact]
    public void Replay_from_an_earlier_chain_is_refused_and_the_session_is_unchanged()
    {
        var pair = SessionPair.Create();
        var old = pair.Alice.Encrypt([1]);
        pair.Bob.Decrypt(old);
        pair.Alice.Decrypt(pair.Bob.Encrypt([2]));
        pair.Bob.Decrypt(pair.Alice.Encrypt([3]));
        var before = pair.Bob.Serialize();

        Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(old));

        Assert.Equal(before, pair.Bob.Serialize());
        Assert.Equal([4], pair.Bob.Decrypt(pair.Alice.Encrypt([4])));
    }

    /// <summary>Forward secrecy: a message key exists only until its message is read; afterwards nothing in the
    /// session (state bytes included) can decrypt it again, and a restored copy cannot either.</summary>
    [Fact]
    public void Message_keys_are_gone_after_use()
    {
        var pair = SessionPair.Create();
        var late = pair.Alice.Encrypt([1]);
        var next = pair.Alice.Encrypt([2]);
        pair.Bob.Decrypt(next);
        Assert.Equal(1, pair.Bob.SkippedKeyCount);

        pair.Bob.Decrypt(late);

        Assert.Equal(0, pair.Bob.SkippedKeyCount);
        var restored = RatchetSession.Deserialize(SessionPair.Crypto, pair.Bob.Serialize());
        Assert.Equal(RatchetFailure.Replayed, Assert.Throws<RatchetException>(() => restored.Decrypt(late)).Reason);
        Assert.Equal(RatchetFailure.Replayed, Assert.Throws<RatchetException>(() => restored.Decrypt(next)).Reason);
    }

    /// <summary>Byte offsets in the wire form: the version (0), the ratchet key (1 to 32), PN (33 to 36), N (37 to
    /// 40), the ciphertext (41 on) and the last byte of the tag (-1).</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(36)]
    [InlineData(40)]
    [InlineData(RatchetHeaderSize)]
    [InlineData(-1)]
    public void Tampered_message_is_refused_and_the_session_is_unchanged(int index)
    {
        var pair = SessionPair.Create();
        pair.Alice.Decrypt(pair.Bob.Encrypt([0]));
        var message = pair.Alice.Encrypt(Bytes.Text("original"));
        var wire = message.ToBytes();
        var tampered = Bytes.Flip(wire, index < 0 ? wire.Length + index : index);
        var before = pair.Bob.Serialize();

        if (index == 0)
        {
            Assert.Throws<FormatException>(() => RatchetMessage.Parse(tampered));
        }
        else
        {
            Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(RatchetMessage.Parse(tampered)));
        }
        Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(new RatchetMessage(tampered[..RatchetHeaderSize], tampered[RatchetHeaderSize..])));

        Assert.Equal(before, pair.Bob.Serialize());
        Assert.Equal(Bytes.Text("original"), pair.Bob.Decrypt(message));
    }

    [Fact]
    public void Message_for_another_associated_data_or_session_is_refused()
    {
        var pair = SessionPair.Create();
        var other = SessionPair.Create();
        var message = pair.Alice.Encrypt([1]);
        var before = other.Bob.Serialize();

        Assert.Equal(RatchetFailure.AuthenticationFailed, Assert.Throws<RatchetException>(() => other.Bob.Decrypt(message)).Reason);
        Assert.Equal(before, other.Bob.Serialize());

        // The same keys under a different AD: identical session state except the AD.
        var state = RatchetSessionState.Parser.ParseFrom(pair.Bob.Serialize());
        state.AssociatedData = ByteString.CopyFrom([.. pair.AssociatedData, 0]);
        var wrongAd = RatchetSession.Deserialize(SessionPair.Crypto, state.ToByteArray());
        Assert.Equal(RatchetFailure.AuthenticationFailed, Assert.Throws<RatchetException>(() => wrongAd.Decrypt(message)).Reason);
        Assert.Equal([1], pair.Bob.Decrypt(message));
    }

    [Fact]
    public void More_than_1000_skipped_in_one_chain_is_refused()
    {
        var pair = SessionPair.Create();
        var messages = Enumerable.Range(0, 1002).Select(i => pair.Alice.Encrypt(BitConverter.GetBytes(i))).ToArray();
        var before = pair.Bob.Serialize();

        // Bob has read message 0 of this chain (in SessionPair.Create): messages[i] is message i + 1, and reading
        // messages[1001] would skip 1,001 keys.
        var error = Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(messages[1001]));

        Assert.Equal(RatchetFailure.TooManySkipped, error.Reason);
        Assert.Equal(before, pair.Bob.Serialize());
        Assert.Equal(BitConverter.GetBytes(1000), pair.Bob.Decrypt(messages[1000]));
        Assert.Equal(1000, pair.Bob.SkippedKeyCount);
        Assert.Equal(BitConverter.GetBytes(1001), pair.Bob.Decrypt(messages[1001]));
        Assert.Equal(BitConverter.GetBytes(3), pair.Bob.Decrypt(messages[3]));
        Assert.Equal(999, pair.Bob.SkippedKeyCount);
    }

    [Fact]
    public void More_than_1000_skipped_in_the_previous_chain_is_refused()
    {
        var pair = SessionPair.Create();
        for (var i = 0; i < 1002; i++)
        {
            pair.Alice.Encrypt([1]);
        }
        pair.Alice.Decrypt(pair.Bob.Encrypt([2]));
        var newChain = pair.Alice.Encrypt([3]);
        var before = pair.Bob.Serialize();

        Assert.Equal(RatchetFailure.TooManySkipped, Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(newChain)).Reason);
        Assert.Equal(before, pair.Bob.Serialize());
    }

    [Fact]
    public void Skipped_keys_are_bounded_at_1000_oldest_dropped_first()
    {
        var pair = SessionPair.Create();
        var firstChain = Enumerable.Range(0, 600).Select(i => pair.Alice.Encrypt(BitConverter.GetBytes(i))).ToArray();
        pair.Bob.Decrypt(firstChain[599]);
        Assert.Equal(599, pair.Bob.SkippedKeyCount);
        pair.Alice.Decrypt(pair.Bob.Encrypt([0]));
        var secondChain = Enumerable.Range(0, 600).Select(i => pair.Alice.Encrypt(BitConverter.GetBytes(i))).ToArray();

        pair.Bob.Decrypt(secondChain[599]);

        Assert.Equal(1000, pair.Bob.SkippedKeyCount);
        // 599 + 599 = 1,198 keys were skipped; the 198 oldest (firstChain[0] to [197]) were deleted.
        Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(firstChain[0]));
        Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(firstChain[197]));
        Assert.Equal(BitConverter.GetBytes(198), pair.Bob.Decrypt(firstChain[198]));
        Assert.Equal(BitConverter.GetBytes(0), pair.Bob.Decrypt(secondChain[0]));
        Assert.Equal(998, pair.Bob.SkippedKeyCount);
    }

    [Fact]
    public void State_round_trips_mid_conversation_with_skipped_keys()
    {
        var pair = SessionPair.Create();
        var delayed = Enumerable.Range(0, 4).Select(i => pair.Alice.Encrypt([(byte)i])).ToArray();
        pair.Bob.Decrypt(delayed[3]);
        pair.Alice.Decrypt(pair.Bob.Encrypt([10]));
        var delayedFromBob = pair.Bob.Encrypt([11]);
        pair.Alice.Decrypt(pair.Bob.Encrypt([12]));

        var alice = RatchetSession.Deserialize(SessionPair.Crypto, pair.Alice.Serialize());
        var bob = RatchetSession.Deserialize(SessionPair.Crypto, pair.Bob.Serialize());

        Assert.Equal(pair.Alice.Serialize(), alice.Serialize());
        Assert.Equal(pair.Bob.Serialize(), bob.Serialize());
        Assert.Equal(3, bob.SkippedKeyCount);
        Assert.Equal(1, alice.SkippedKeyCount);
        Assert.Equal([1], bob.Decrypt(delayed[1]));
        Assert.Equal([11], alice.Decrypt(delayedFromBob));
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal([(byte)i], bob.Decrypt(alice.Encrypt([(byte)i])));
            Assert.Equal([(byte)i], alice.Decrypt(bob.Encrypt([(byte)i])));
        }
        Assert.Equal([0], bob.Decrypt(delayed[0]));
    }

    [Fact]
    public void Fresh_responder_state_round_trips()
    {
        var crypto = SessionPair.Crypto;
        var signedPrekey = X25519KeyPair.Generate(crypto);
        var alice = RatchetSession.InitializeAsInitiator(crypto, new byte[32], [7], signedPrekey.PublicKey);
        var bob = RatchetSession.Deserialize(crypto, RatchetSession.InitializeAsResponder(crypto, new byte[32], [7], signedPrekey).Serialize());
        alice = RatchetSession.Deserialize(crypto, alice.Serialize());

        Assert.Equal([1], bob.Decrypt(alice.Encrypt([1])));
        Assert.Equal([2], alice.Decrypt(bob.Encrypt([2])));
    }

    [Fact]
    public void Garbage_state_is_a_format_exception()
    {
        var random = new Random(3);
        var valid = SessionPair.Create().Bob.Serialize();

        Assert.Throws<FormatException>(() => RatchetSession.Deserialize(SessionPair.Crypto, []));
        Assert.Throws<FormatException>(() => RatchetSession.Deserialize(SessionPair.Crypto, new byte[300 * 1024]));
        for (var length = 0; length < valid.Length; length += 7)
        {
            AssertFormatExceptionOrSession(valid.AsSpan(0, length));
        }
        for (var i = 0; i < 2000; i++)
        {
            var garbage = new byte[random.Next(0, 400)];
            random.NextBytes(garbage);
            AssertFormatExceptionOrSession(garbage);
            var mutated = valid.ToArray();
            mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
            AssertFormatExceptionOrSession(mutated);
        }
    }

    public static TheoryData<string> InvalidStates() =>
    [
        "version", "no associated data", "long associated data", "short root key", "short ratchet private key",
        "short remote key", "short chain key", "sending chain without remote key", "receiving chain without remote key",
        "short skipped key", "duplicate skipped key", "too many skipped keys",
    ];

    [Theory]
    [MemberData(nameof(InvalidStates))]
    public void Inconsistent_state_is_a_format_exception(string breakage)
    {
        var pair = SessionPair.Create();
        pair.Alice.Encrypt([2]);
        pair.Bob.Decrypt(pair.Alice.Encrypt([3]));
        var state = RatchetSessionState.Parser.ParseFrom(pair.Bob.Serialize());
        Assert.Single(state.SkippedKeys);
        switch (breakage)
        {
            case "version": state.Version = 2; break;
            case "no associated data": state.AssociatedData = ByteString.Empty; break;
            case "long associated data": state.AssociatedData = ByteString.CopyFrom(new byte[RatchetSession.MaxAssociatedDataLength + 1]); break;
            case "short root key": state.RootKey = ByteString.CopyFrom(new byte[31]); break;
            case "short ratchet private key": state.SendingRatchetPrivateKey = ByteString.Empty; break;
            case "short remote key": state.RemoteRatchetKey = ByteString.CopyFrom(new byte[33]); break;
            case "short chain key": state.ReceivingChainKey = ByteString.CopyFrom(new byte[16]); break;
            case "sending chain without remote key": state.RemoteRatchetKey = ByteString.Empty; state.ReceivingChainKey = ByteString.Empty; break;
            case "receiving chain without remote key": state.RemoteRatchetKey = ByteString.Empty; state.SendingChainKey = ByteString.Empty; break;
            case "short skipped key": state.SkippedKeys[0].MessageKey = ByteString.CopyFrom(new byte[3]); break;
            case "duplicate skipped key": state.SkippedKeys.Add(state.SkippedKeys[0].Clone()); break;
            case "too many skipped keys":
                for (var i = 0; i < RatchetSession.MaxSkippedKeys; i++)
                {
                    var extra = state.SkippedKeys[0].Clone();
                    extra.Index = 100 + (uint)i;
                    state.SkippedKeys.Add(extra);
                }
                break;
            default: throw new ArgumentOutOfRangeException(nameof(breakage));
        }

        Assert.Throws<FormatException>(() => RatchetSession.Deserialize(SessionPair.Crypto, state.ToByteArray()));
    }

    [Fact]
    public void Malformed_messages_are_ratchet_exceptions_and_change_nothing()
    {
        var pair = SessionPair.Create();
        var valid = pair.Alice.Encrypt([1]);
        var before = pair.Bob.Serialize();

        foreach (var header in new[] { Array.Empty<byte>(), new byte[40], new byte[42], Bytes.Flip(valid.Header, 0, 0x02) })
        {
            Assert.Equal(RatchetFailure.Malformed, Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(valid with { Header = header })).Reason);
        }
        Assert.Equal(RatchetFailure.Malformed, Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(valid with { Ciphertext = new byte[15] })).Reason);
        Assert.Equal(RatchetFailure.Malformed, Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(valid with { Ciphertext = new byte[RatchetMessage.MaxCiphertextLength + 1] })).Reason);
        Assert.Equal(before, pair.Bob.Serialize());
        Assert.Equal([1], pair.Bob.Decrypt(valid));
    }

    [Fact]
    public void Low_order_ratchet_key_in_a_header_is_an_invalid_key()
    {
        var pair = SessionPair.Create();
        var valid = pair.Alice.Encrypt([1]);
        var header = valid.Header.ToArray();
        Array.Clear(header, 1, 32);
        var before = pair.Bob.Serialize();

        Assert.Equal(RatchetFailure.InvalidKey, Assert.Throws<RatchetException>(() => pair.Bob.Decrypt(valid with { Header = header })).Reason);
        Assert.Equal(before, pair.Bob.Serialize());
    }

    [Fact]
    public void Forged_message_under_the_responders_signed_prekey_is_refused()
    {
        // Alice knows Bob's signed prekey as his ratchet key but has no receiving chain for it yet.
        var crypto = SessionPair.Crypto;
        var signedPrekey = X25519KeyPair.Generate(crypto);
        var alice = RatchetSession.InitializeAsInitiator(crypto, new byte[32], [1], signedPrekey.PublicKey);
        var before = alice.Serialize();
        var forged = new RatchetMessage([1, .. signedPrekey.PublicKey, 0, 0, 0, 0, 0, 0, 0, 0], new byte[20]);

        Assert.Equal(RatchetFailure.AuthenticationFailed, Assert.Throws<RatchetException>(() => alice.Decrypt(forged)).Reason);
        Assert.Equal(before, alice.Serialize());
    }

    [Fact]
    public void Initialization_checks_its_inputs()
    {
        var crypto = SessionPair.Crypto;
        var key = X25519KeyPair.Generate(crypto);

        Assert.Equal(RatchetFailure.InvalidKey, Assert.Throws<RatchetException>(() => RatchetSession.InitializeAsInitiator(crypto, new byte[32], [1], new byte[32])).Reason);
        Assert.Equal(RatchetFailure.InvalidKey, Assert.Throws<RatchetException>(() => RatchetSession.InitializeAsInitiator(crypto, new byte[32], [1], new byte[31])).Reason);
        Assert.Throws<ArgumentException>(() => RatchetSession.InitializeAsInitiator(crypto, new byte[31], [1], key.PublicKey));
        Assert.Throws<ArgumentException>(() => RatchetSession.InitializeAsInitiator(crypto, new byte[32], [], key.PublicKey));
        Assert.Throws<ArgumentException>(() => RatchetSession.InitializeAsResponder(crypto, new byte[32], new byte[RatchetSession.MaxAssociatedDataLength + 1], key));
        Assert.Throws<ArgumentException>(() => RatchetSession.InitializeAsResponder(crypto, new byte[32], [1], key with { PrivateKey = new byte[3] }));
    }

    [Fact]
    public void Oversized_plaintext_is_refused()
    {
        var pair = SessionPair.Create();

        Assert.Throws<ArgumentException>(() => pair.Alice.Encrypt(new byte[RatchetMessage.MaxPlaintextLength + 1]));
        var largest = pair.Alice.Encrypt(new byte[RatchetMessage.MaxPlaintextLength]);
        Assert.Equal(RatchetMessage.MaxPlaintextLength, pair.Bob.Decrypt(RatchetMessage.Parse(largest.ToBytes())).Length);
    }

    private const int RatchetHeaderSize = 41;

    private static void AssertFormatExceptionOrSession(ReadOnlySpan<byte> state)
    {
        try
        {
            RatchetSession.Deserialize(SessionPair.Crypto, state);
        }
        catch (FormatException)
        {
        }
    }
}
