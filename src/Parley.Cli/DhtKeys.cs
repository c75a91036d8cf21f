using System.Text;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;

namespace Parley.Cli;

/// <summary>How the `parley dht` commands turn what the user typed into DHT keys.</summary>
internal static class DhtKeys
{
    /// <summary>A full record key ("/namespace/…") is used as it is; a bare name becomes the signer's own user record.</summary>
    /// <exception cref="Dht.Records.RecordValidationException">A full key that is not of the form "/namespace/…".</exception>
    public static Dht.Records.RecordKey RecordKeyOf(string text, PeerId signer) =>
        text.StartsWith('/') ? Dht.Records.RecordKey.Parse(text) : ParleyRecords.UserRecordKey(signer, text);

    /// <summary>
    /// Provider keys are multihashes, as in every libp2p DHT: a CID (base32 "b…") or base58 multihash ("Qm…") gives
    /// its multihash; any other text is hashed (sha2-256) so the same text always names the same key.
    /// </summary>
    public static byte[] ProviderKey(string text)
    {
        try
        {
            if (text.StartsWith("Qm", StringComparison.Ordinal))
            {
                return Multihash.Parse(Base58.Decode(text)).Bytes.ToArray();
            }
            if (text.StartsWith('b') && text.Length > 10)
            {
                var cid = Multibase.Decode(text);
                var version = Varint.Read(cid, out var versionLength);
                Varint.Read(cid.AsSpan(versionLength), out var codecLength);
                if (version == 1)
                {
                    return Multihash.Parse(cid.AsSpan(versionLength + codecLength)).Bytes.ToArray();
                }
            }
        }
        catch (FormatException)
        {
            // Not a CID or multihash: hash the text below.
        }
        return Multihash.Sha256(Encoding.UTF8.GetBytes(text)).Bytes.ToArray();
    }
}
