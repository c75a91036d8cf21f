using System.Text;
using Google.Protobuf;
using Parley.Chat.Directory.Protos;
using Parley.Chat.Identity;
using Parley.Core.Identity;
using Pow = Parley.Core.Crypto.ProofOfWork;

namespace Parley.Chat.Directory;

/// <summary>
/// One account's claim of a name. The stamp solves <c>ProofOfWork.Challenge("parley-name-pow", name, account key
/// protobuf)</c>; the signature is Ed25519 by the account over <c>"parley-name-claim:" ‖ u32 len ‖ name ‖ u32 len ‖
/// account key protobuf ‖ u64 sequence ‖ i64 expires (Unix ms) ‖ u64 proof of work</c>.
/// </summary>
public sealed record NameClaim(string Name, PublicKey Account, ulong Sequence, DateTimeOffset ExpiresAt, ulong ProofOfWork, byte[] Signature)
{
    public const string ProofOfWorkDomain = "parley-name-pow";

    private const string Domain = "parley-name-claim:";

    public Handle Handle => new(Name, Handle.TagOf(Account));

    /// <summary>The challenge a stamp for <paramref name="account"/>'s claim of <paramref name="name"/> must solve.</summary>
    public static byte[] Challenge(string name, PublicKey account)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(account);
        return Pow.Challenge(ProofOfWorkDomain, Encoding.UTF8.GetBytes(name), account.ToProtobuf());
    }

    /// <summary>Signs a claim; the name is normalized and the expiry kept to the millisecond. The stamp is not checked here.</summary>
    /// <exception cref="FormatException">Not a valid name.</exception>
    public static NameClaim Create(IdentityKey account, string name, ulong sequence, DateTimeOffset expiresAt, ulong proofOfWork)
    {
        ArgumentNullException.ThrowIfNull(account);
        var normalized = Handle.NormalizeName(name);
        var expiresUnixMs = expiresAt.ToUnixTimeMilliseconds();
        var signature = account.Sign(SigningPayload(normalized, account.PublicKey, sequence, expiresUnixMs, proofOfWork));
        return new NameClaim(normalized, account.PublicKey, sequence, DateTimeOffset.FromUnixTimeMilliseconds(expiresUnixMs), proofOfWork, signature);
    }

    /// <summary>The value to put under the name's key: a claim set holding just these claims, in this order.</summary>
    public static byte[] EncodeSet(IEnumerable<NameClaim> claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        var set = new NameClaimSetMessage();
        set.Claims.AddRange(claims.Select(c => c.ToMessage()));
        return set.ToByteArray();
    }

    internal static byte[] SigningPayload(string name, PublicKey account, ulong sequence, long expiresUnixMs, ulong proofOfWork) =>
        new CanonicalWriter(Domain)
            .Bytes(Encoding.UTF8.GetBytes(name))
            .Bytes(account.ToProtobuf())
            .UInt64(sequence)
            .Int64(expiresUnixMs)
            .UInt64(proofOfWork)
            .ToArray();

    internal NameClaimMessage ToMessage() => new()
    {
        Name = Name,
        AccountKey = ByteString.CopyFrom(Account.ToProtobuf()),
        Sequence = Sequence,
        ExpiresUnixMs = ExpiresAt.ToUnixTimeMilliseconds(),
        ProofOfWork = ProofOfWork,
        Signature = ByteString.CopyFrom(Signature),
    };
}
