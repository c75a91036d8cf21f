using Parley.Chat.Crypto;

namespace Parley.Chat.Tests.Crypto;

public class X3dhTests
{
    private static readonly Parley.Core.Crypto.DefaultCryptoProvider Crypto = SessionPair.Crypto;

    private sealed record Parties(byte[] AliceAccount, X25519KeyPair AliceIdentity, byte[] BobAccount, X25519KeyPair BobIdentity, X25519KeyPair SignedPrekey, X25519KeyPair OneTimePrekey)
    {
        public static Parties Create() => new(
            SessionPair.AccountKey(), X25519KeyPair.Generate(Crypto), SessionPair.AccountKey(), X25519KeyPair.Generate(Crypto),
            X25519KeyPair.Generate(Crypto), X25519KeyPair.Generate(Crypto));

        public X3dhInitiation Initiate(bool useOneTimePrekey) =>
            X3dh.Initiate(Crypto, AliceAccount, AliceIdentity, BobAccount, BobIdentity.PublicKey, SignedPrekey.PublicKey, useOneTimePrekey ? OneTimePrekey.PublicKey : []);

        public X3dhSecret Respond(X3dhInitiation initiation, bool useOneTimePrekey) =>
            X3dh.Respond(Crypto, BobAccount, BobIdentity, SignedPrekey, useOneTimePrekey ? OneTimePrekey : null, AliceAccount, AliceIdentity.PublicKey, initiation.EphemeralPublicKey);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Both_sides_agree(bool useOneTimePrekey)
    {
        var parties = Parties.Create();

        var initiation = parties.Initiate(useOneTimePrekey);
        var response = parties.Respond(initiation, useOneTimePrekey);

        Assert.Equal(32, initiation.SharedSecret.Length);
        Assert.Equal(initiation.SharedSecret, response.SharedSecret);
        Assert.Equal(initiation.AssociatedData, response.AssociatedData);
        Assert.StartsWith("parley-x3dh-ad:", System.Text.Encoding.ASCII.GetString(initiation.AssociatedData));
    }

    [Fact]
    public void Sides_disagree_when_the_one_time_prekey_use_differs()
    {
        var parties = Parties.Create();
        var withOneTime = parties.Initiate(useOneTimePrekey: true);
        var withoutOneTime = parties.Initiate(useOneTimePrekey: false);

        Assert.NotEqual(withOneTime.SharedSecret, parties.Respond(withOneTime, useOneTimePrekey: false).SharedSecret);
        Assert.NotEqual(withoutOneTime.SharedSecret, parties.Respond(withoutOneTime, useOneTimePrekey: true).SharedSecret);
    }

    [Fact]
    public void Each_initiation_uses_a_fresh_ephemeral_key()
    {
        var parties = Parties.Create();

        var first = parties.Initiate(true);
        var second = parties.Initiate(true);

        Assert.NotEqual(first.EphemeralPublicKey, second.EphemeralPublicKey);
        Assert.NotEqual(first.SharedSecret, second.SharedSecret);
        Assert.Equal(first.AssociatedData, second.AssociatedData);
    }

    [Fact]
    public void Associated_data_changes_when_any_key_changes()
    {
        var parties = Parties.Create();
        var baseline = parties.Initiate(true).AssociatedData;
        var variants = new[]
        {
            parties with { AliceAccount = SessionPair.AccountKey() },
            parties with { BobAccount = SessionPair.AccountKey() },
            parties with { AliceIdentity = X25519KeyPair.Generate(Crypto) },
            parties with { BobIdentity = X25519KeyPair.Generate(Crypto) },
            // Swapped roles: the AD is ordered initiator first.
            parties with { AliceAccount = parties.BobAccount, BobAccount = parties.AliceAccount },
        };

        var all = variants.Select(v => Convert.ToHexString(v.Initiate(true).AssociatedData)).Append(Convert.ToHexString(baseline)).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
    }

    [Fact]
    public void Associated_data_is_length_prefixed_so_shifting_bytes_between_parts_changes_it()
    {
        var ad1 = X3dh.AssociatedData([1, 2], [3], [4], [5]);
        var ad2 = X3dh.AssociatedData([1], [2, 3], [4], [5]);

        Assert.NotEqual(ad1, ad2);
        Assert.Equal("parley-x3dh-ad:"u8.ToArray().Concat(new byte[] { 0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 3, 0, 0, 0, 1, 4, 0, 0, 0, 1, 5 }), ad1);
    }

    [Fact]
    public void Shared_secret_changes_when_any_key_changes()
    {
        var parties = Parties.Create();
        var initiation = parties.Initiate(true);
        var baseline = parties.Respond(initiation, true).SharedSecret;
        var variants = new[]
        {
            parties with { BobIdentity = X25519KeyPair.Generate(Crypto) },
            parties with { SignedPrekey = X25519KeyPair.Generate(Crypto) },
            parties with { OneTimePrekey = X25519KeyPair.Generate(Crypto) },
            parties with { AliceIdentity = X25519KeyPair.Generate(Crypto) },
        };

        Assert.All(variants, v => Assert.NotEqual(baseline, v.Respond(initiation, true).SharedSecret));
    }

    public static TheoryData<int, int> BadPeerKeys() => new()
    {
        // (which key: 0 identity, 1 signed prekey, 2 one-time prekey; length, 0 meaning a low-order point)
        { 0, 31 }, { 0, 0 }, { 1, 33 }, { 1, 0 }, { 2, 1 }, { 2, 0 },
    };

    [Theory]
    [MemberData(nameof(BadPeerKeys))]
    public void Initiate_refuses_bad_responder_keys(int which, int length)
    {
        var parties = Parties.Create();
        var bad = length == 0 ? new byte[32] : new byte[length];
        var keys = new[] { parties.BobIdentity.PublicKey, parties.SignedPrekey.PublicKey, parties.OneTimePrekey.PublicKey };
        keys[which] = bad;

        var error = Assert.Throws<RatchetException>(() => X3dh.Initiate(Crypto, parties.AliceAccount, parties.AliceIdentity, parties.BobAccount, keys[0], keys[1], keys[2]));

        Assert.Equal(RatchetFailure.InvalidKey, error.Reason);
    }

    [Theory]
    [InlineData(0, 31)]
    [InlineData(0, 0)]
    [InlineData(1, 33)]
    [InlineData(1, 0)]
    public void Respond_refuses_bad_initiator_keys(int which, int length)
    {
        var parties = Parties.Create();
        var initiation = parties.Initiate(true);
        var bad = length == 0 ? new byte[32] : new byte[length];
        var identity = which == 0 ? bad : parties.AliceIdentity.PublicKey;
        var ephemeral = which == 1 ? bad : initiation.EphemeralPublicKey;

        var error = Assert.Throws<RatchetException>(() => X3dh.Respond(Crypto, parties.BobAccount, parties.BobIdentity, parties.SignedPrekey, parties.OneTimePrekey, parties.AliceAccount, identity, ephemeral));

        Assert.Equal(RatchetFailure.InvalidKey, error.Reason);
    }

    [Fact]
    public void Empty_account_keys_are_refused()
    {
        var parties = Parties.Create();

        Assert.Throws<ArgumentException>(() => (parties with { AliceAccount = [] }).Initiate(true));
        Assert.Throws<ArgumentException>(() => (parties with { BobAccount = [] }).Initiate(true));
        Assert.Throws<ArgumentException>(() => (parties with { AliceAccount = [] }).Respond(parties.Initiate(true), true));
    }

    [Fact]
    public void Key_pair_from_a_private_key_copies_it()
    {
        var generated = X25519KeyPair.Generate(Crypto);

        var restored = X25519KeyPair.FromPrivateKey(Crypto, generated.PrivateKey);

        Assert.Equal(generated.PublicKey, restored.PublicKey);
        Assert.NotSame(generated.PrivateKey, restored.PrivateKey);
        Assert.DoesNotContain(Convert.ToHexStringLower(generated.PrivateKey), restored.ToString(), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => X25519KeyPair.FromPrivateKey(Crypto, new byte[31]));
    }
}
