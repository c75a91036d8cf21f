using System.Diagnostics.CodeAnalysis;
using Google.Protobuf;
using Parley.Chat.Mailbox.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Mailbox;

/// <summary>Builds the owner-signed requests (client side) and checks their form and signature (node side).</summary>
internal static class MailboxRequests
{
    public const int TokenHashLength = 32;
    public const int MaxCursorLength = 16;
    public const int MaxDepositorLength = 128;
    public const string NotSignedByOwner = "not signed by the mailbox owner";

    public static byte[] StampChallenge(byte[] mailboxId, byte[] envelopeId, byte[] envelope) =>
        ProofOfWork.Challenge("parley-mailbox-pow", mailboxId, envelopeId, System.Security.Cryptography.SHA256.HashData(envelope));

    public static FetchRequest Fetch(IdentityKey owner, long timestampUnixMs, ByteString cursor)
    {
        var ownerKey = owner.PublicKey.ToProtobuf();
        return new FetchRequest
        {
            OwnerKey = ByteString.CopyFrom(ownerKey),
            TimestampUnixMs = timestampUnixMs,
            Cursor = cursor,
            Signature = ByteString.CopyFrom(owner.Sign(MailboxSigning.Fetch(ownerKey, timestampUnixMs, cursor.Span))),
        };
    }

    public static DeleteRequest Delete(IdentityKey owner, long timestampUnixMs, IReadOnlyList<byte[]> envelopeIds)
    {
        var ownerKey = owner.PublicKey.ToProtobuf();
        var request = new DeleteRequest { OwnerKey = ByteString.CopyFrom(ownerKey), TimestampUnixMs = timestampUnixMs };
        request.EnvelopeIds.AddRange(envelopeIds.Select(ByteString.CopyFrom));
        request.Signature = ByteString.CopyFrom(owner.Sign(DeletePayload(request)));
        return request;
    }

    public static SetPolicyRequest Policy(IdentityKey owner, ulong sequence, IReadOnlyList<byte[]> tokenHashes)
    {
        var ownerKey = owner.PublicKey.ToProtobuf();
        var request = new SetPolicyRequest { OwnerKey = ByteString.CopyFrom(ownerKey), Sequence = sequence };
        request.TokenHashes.AddRange(tokenHashes.Select(ByteString.CopyFrom));
        request.Signature = ByteString.CopyFrom(owner.Sign(PolicyPayload(request)));
        return request;
    }

    public static UploadPrekeysRequest Prekeys(IdentityKey owner, PeerId node, long timestampUnixMs, IReadOnlyList<SignedOneTimePrekey> prekeys)
    {
        var ownerKey = owner.PublicKey.ToProtobuf();
        var request = new UploadPrekeysRequest
        {
            OwnerKey = ByteString.CopyFrom(ownerKey),
            NodeId = ByteString.CopyFrom(node.Bytes),
            TimestampUnixMs = timestampUnixMs,
        };
        request.Prekeys.AddRange(prekeys.Select(ToProto));
        request.Signature = ByteString.CopyFrom(owner.Sign(MailboxSigning.Prekeys(ownerKey, node.Bytes, timestampUnixMs, prekeys)));
        return request;
    }

    public static OneTimePrekey ToProto(SignedOneTimePrekey prekey) => new()
    {
        Id = prekey.Id,
        PublicKey = ByteString.CopyFrom(prekey.PublicKey),
        Signature = ByteString.CopyFrom(prekey.Signature),
    };

    public static SignedOneTimePrekey FromProto(OneTimePrekey prekey) => new(prekey.Id, prekey.PublicKey.ToByteArray(), prekey.Signature.ToByteArray());

    public static byte[] DeletePayload(DeleteRequest request) =>
        MailboxSigning.Delete(request.OwnerKey.Span, request.TimestampUnixMs, request.EnvelopeIds.Select(id => id.Memory));

    public static byte[] PolicyPayload(SetPolicyRequest request) =>
        MailboxSigning.Policy(request.OwnerKey.Span, request.Sequence, request.TokenHashes.Select(h => h.Memory));

    /// <summary>True when the fetch is well formed and signed by the key it names; otherwise <paramref name="error"/> says why not.</summary>
    public static bool TryVerify(FetchRequest request, [NotNullWhen(true)] out PublicKey? owner, [NotNullWhen(false)] out string? error)
    {
        if (!TryParseOwner(request.OwnerKey, out owner, out error))
        {
            return false;
        }
        if (request.Cursor.Length > MaxCursorLength)
        {
            return Fail("malformed request: cursor too long", out owner, out error);
        }
        return Signed(MailboxSigning.Fetch(request.OwnerKey.Span, request.TimestampUnixMs, request.Cursor.Span), request.Signature, ref owner, out error);
    }

    public static bool TryVerify(DeleteRequest request, MailboxOptions options, [NotNullWhen(true)] out PublicKey? owner, [NotNullWhen(false)] out string? error)
    {
        if (!TryParseOwner(request.OwnerKey, out owner, out error))
        {
            return false;
        }
        if (request.EnvelopeIds.Count is 0 || request.EnvelopeIds.Count > options.MaxDeleteIds)
        {
            return Fail($"a delete names 1 to {options.MaxDeleteIds} envelopes", out owner, out error);
        }
        if (request.EnvelopeIds.Any(id => id.Length != MailboxEnvelope.IdLength))
        {
            return Fail($"malformed request: envelope ids are {MailboxEnvelope.IdLength} bytes", out owner, out error);
        }
        return Signed(DeletePayload(request), request.Signature, ref owner, out error);
    }

    public static bool TryVerify(SetPolicyRequest request, MailboxOptions options, [NotNullWhen(true)] out PublicKey? owner, [NotNullWhen(false)] out string? error)
    {
        if (!TryParseOwner(request.OwnerKey, out owner, out error))
        {
            return false;
        }
        if (request.TokenHashes.Count > options.MaxPolicyTokens)
        {
            return Fail($"a policy holds at most {options.MaxPolicyTokens} token hashes", out owner, out error);
        }
        if (request.TokenHashes.Any(h => h.Length != TokenHashLength))
        {
            return Fail($"malformed request: token hashes are {TokenHashLength} bytes", out owner, out error);
        }
        return Signed(PolicyPayload(request), request.Signature, ref owner, out error);
    }

    /// <summary>Also checks that the upload is for <paramref name="node"/> and that every prekey is signed by the account.</summary>
    public static bool TryVerify(UploadPrekeysRequest request, MailboxOptions options, PeerId node, [NotNullWhen(true)] out PublicKey? owner, out IReadOnlyList<SignedOneTimePrekey> prekeys, [NotNullWhen(false)] out string? error)
    {
        prekeys = [];
        if (!TryParseOwner(request.OwnerKey, out owner, out error))
        {
            return false;
        }
        if (!request.NodeId.Span.SequenceEqual(node.Bytes))
        {
            return Fail("this upload is for another node", out owner, out error);
        }
        if (request.Prekeys.Count is 0 || request.Prekeys.Count > options.MaxPrekeysPerMailbox)
        {
            return Fail($"an upload holds 1 to {options.MaxPrekeysPerMailbox} prekeys", out owner, out error);
        }
        var account = owner;
        var parsed = request.Prekeys.Select(FromProto).ToList();
        if (parsed.FirstOrDefault(p => !p.Verify(account)) is { } forged)
        {
            return Fail($"prekey {forged.Id} is not signed by the account", out owner, out error);
        }
        if (!Signed(MailboxSigning.Prekeys(request.OwnerKey.Span, request.NodeId.Span, request.TimestampUnixMs, parsed), request.Signature, ref owner, out error))
        {
            return false;
        }
        prekeys = parsed;
        return true;
    }

    private static bool TryParseOwner(ByteString ownerKey, [NotNullWhen(true)] out PublicKey? owner, [NotNullWhen(false)] out string? error)
    {
        try
        {
            owner = PublicKey.FromProtobuf(ownerKey.Span);
            error = null;
            return true;
        }
        catch (FormatException e)
        {
            return Fail($"malformed request: owner key: {e.Message}", out owner, out error);
        }
    }

    private static bool Signed(byte[] payload, ByteString signature, [NotNullWhen(true)] ref PublicKey? owner, [NotNullWhen(false)] out string? error)
    {
        if (owner is not null && signature.Length == SignedOneTimePrekey.SignatureLength && owner.Verify(payload, signature.Span))
        {
            error = null;
            return true;
        }
        return Fail(NotSignedByOwner, out owner, out error);
    }

    private static bool Fail(string reason, out PublicKey? owner, out string error)
    {
        owner = null;
        error = reason;
        return false;
    }
}
