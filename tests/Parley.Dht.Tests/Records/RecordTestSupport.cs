using System.Text;
using Parley.Core.Identity;
using Parley.Dht.Records;
using Parley.Testing;

namespace Parley.Dht.Tests.Records;

/// <summary>Fixed identities and signed records on a manual clock.</summary>
internal sealed class RecordTestSupport
{
    public static readonly IdentityKey Alice = Identity(1);
    public static readonly IdentityKey Bob = Identity(2);

    public ManualTimeProvider Clock { get; } = new();

    public SignedRecordValidator Validator => new(Clock);

    public static IdentityKey Identity(byte seed) => IdentityKey.FromSeed(Enumerable.Repeat(seed, 32).ToArray());

    public static RecordKey KeyOf(IdentityKey owner, string name = "presence") => RecordKey.Parse($"/parley/{owner.PeerId}/{name}");

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    public RecordValidatorRegistry Registry()
    {
        var registry = new RecordValidatorRegistry();
        registry.Register("parley", Validator);
        registry.Register(PublicKeyValidator.Namespace, new PublicKeyValidator());
        return registry;
    }

    /// <summary>A record by <paramref name="owner"/> under its own key, expiring in a day unless told otherwise.</summary>
    public byte[] Signed(IdentityKey owner, ulong sequence, string value = "hello", TimeSpan? expiresIn = null, string name = "presence") =>
        SignedRecord.Create(owner, KeyOf(owner, name), Utf8(value), sequence, Clock.GetUtcNow() + (expiresIn ?? TimeSpan.FromDays(1)));
}
