using Google.Protobuf;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Rooms;

/// <summary>
/// A welcome too large for one message comes in parts (<see cref="RoomMessenger.SendWelcome"/>): they are kept until
/// every part is in, in whatever order they came, and only then taken as one welcome, so that a newcomer never shows
/// a room from part of its log. A part missing when the last one has come is asked for again: the admin sends the
/// whole welcome again, and parts cut from another log (the heads differ) replace those held.
/// </summary>
internal sealed class WelcomeParts(ChatContext context, RoomMessenger messenger)
{
    /// <summary>Bound on the parts of one welcome (each at most one envelope): a log of tens of thousands of entries.</summary>
    public const int MaxParts = 64;

    /// <summary>
    /// Adds a part that came from <paramref name="sender"/>; returns the whole welcome, its entries in log order, once
    /// every part is in, else null.
    /// </summary>
    public GroupWelcome? Add(IChatTransaction tx, Id256 id, GroupWelcome part, ContactRecord sender)
    {
        if (part.Parts == 0)
        {
            return part;
        }
        if (part.Parts > MaxParts || part.Part >= part.Parts || part.Heads.Count == 0 || part.Heads.Count > MembershipLog.MaxPendingEntries)
        {
            ChatLog.WelcomeIgnored(context.Logger);
            return null;
        }
        var setting = Setting(id);
        var held = tx.GetSetting(setting) is { Length: > 0 } bytes ? GroupWelcomeParts.Parser.ParseFrom(bytes) : new GroupWelcomeParts();
        var first = held.Parts.FirstOrDefault();
        if (first is not null && (first.Parts != part.Parts || !first.Heads.SequenceEqual(part.Heads) || first.LinkKey != part.LinkKey))
        {
            held.Parts.Clear();
        }
        if (held.Parts.All(p => p.Part != part.Part))
        {
            held.Parts.Add(part);
        }
        if (held.Parts.Count < part.Parts)
        {
            tx.PutSetting(setting, held.ToByteArray());
            if (part.Part == part.Parts - 1)
            {
                // The last part came before others: they may still be on their way, or lost. Asking costs the admin
                // one more welcome; whichever copy completes the set first is taken.
                messenger.SendControl(tx, id, sender.AccountKey, new GroupControl { WelcomeRequest = true }, null);
            }
            return null;
        }
        tx.PutSetting(setting, []);
        var whole = new GroupWelcome { LinkKey = part.LinkKey, AdminHandle = part.AdminHandle };
        whole.Heads.AddRange(part.Heads);
        whole.Entries.AddRange(held.Parts.OrderBy(p => p.Part).SelectMany(p => p.Entries));
        return whole;
    }

    /// <summary>Whether a log built from a welcome holds every head the welcome names, so all of the log it was cut from.</summary>
    public static bool IsComplete(MembershipLog log, GroupWelcome welcome) =>
        welcome.Heads.All(h => h.Length == Id256.Size && log.Contains(Id256.FromBytes(h.Span)));

    private static string Setting(Id256 id) => $"room-welcome/{Parley.Core.Multiformats.Base32.Encode(id.Span)}";
}
