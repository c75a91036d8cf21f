using System.Text;

namespace Parley.Storage;

/// <summary>A column of parley.db whose values the <see cref="KeyVault"/> seals; <paramref name="Generation"/> is the first that sealed it.</summary>
internal sealed record SealedColumn(string Table, string Column, int Generation);

/// <summary>
/// What parley.db keeps sealed besides the secret keys (docs/storage.md: message text, names, room contents), and the
/// upgrade that seals the rows an older Parley wrote in the clear. A column opts in by being listed in
/// <see cref="Columns"/> with its generation (a new one: <see cref="Generation"/> + 1) and by being written through
/// <see cref="KeyVault.Seal"/> or <see cref="KeyVault.SealText"/> and read through their Open; a database whose keyring
/// records an older generation has those columns sealed on its first unlock. A column added already sealed, with no
/// rows from before, needs no entry (the outbox's content is one).
/// </summary>
internal static class ContentSealing
{
    /// <summary>The generation this Parley writes: every listed column is sealed.</summary>
    public const int Generation = 1;

    public static readonly SealedColumn[] Columns =
    [
        new("account", "name", 1),
        new("contacts", "name", 1),
        new("contacts", "their_token", 1),
        new("contacts", "our_token", 1),
        new("messages", "text", 1),
        new("groups", "admin_handle", 1),
        new("group_entries", "entry", 1),
        new("group_messages", "body", 1),
        new("group_messages", "ciphertext", 1),
        new("group_messages", "text", 1),
        new("group_pending", "ciphertext", 1),
    ];

    /// <summary>The lookup tag a contact is found by: its name, ASCII case folded (names are ASCII).</summary>
    public static byte[] ContactNameTag(KeyVault vault, string name)
    {
        var folded = string.Create(name.Length, name, static (chars, name) =>
        {
            for (var i = 0; i < name.Length; i++)
            {
                chars[i] = char.IsAsciiLetterUpper(name[i]) ? (char)(name[i] + ('a' - 'A')) : name[i];
            }
        });
        return vault.LookupTag("contact-name", Encoding.UTF8.GetBytes(folded));
    }

    /// <summary>
    /// Brings a database up to <see cref="Generation"/>: seals, in one transaction, every value of the columns newer than
    /// <paramref name="sealedGeneration"/> (a failure or a killed process leaves every row as it was), then rebuilds
    /// the file and empties the write-ahead log, where the plaintext could linger in free pages and old frames. The
    /// keyring records each step, so an interrupted rebuild runs again on the next unlock.
    /// </summary>
    /// <exception cref="StorageException">A value is neither text nor bytes, or the disk is full.</exception>
    public static async Task UpgradeAsync(SqliteDatabase database, KeyVault vault, int sealedGeneration, bool scrubPending, CancellationToken cancellationToken)
    {
        if (sealedGeneration < Generation)
        {
            await database.WriteAsync((c, t) =>
            {
                if (sealedGeneration < 1)
                {
                    foreach (var (rowid, name) in c.Query(t, "SELECT rowid, name FROM contacts", r => (r.GetInt64(0), r.GetString(1))))
                    {
                        c.Execute(t, "UPDATE contacts SET name_key = $k WHERE rowid = $r", ("$k", ContactNameTag(vault, name)), ("$r", rowid));
                    }
                }
                foreach (var column in Columns.Where(listed => listed.Generation > sealedGeneration))
                {
                    // Table and column names come from the list above, never from input.
                    var rows = c.Query(t, $"SELECT rowid, {column.Column} FROM {column.Table} WHERE {column.Column} IS NOT NULL", r => (r.GetInt64(0), r.GetValue(1)));
                    foreach (var (rowid, value) in rows)
                    {
                        var plain = value switch
                        {
                            string text => Encoding.UTF8.GetBytes(text),
                            byte[] bytes => bytes,
                            _ => throw new StorageException($"{database.Path}: {column.Table}.{column.Column} holds a {value.GetType().Name}, neither text nor bytes; nothing was sealed"),
                        };
                        c.Execute(t, $"UPDATE {column.Table} SET {column.Column} = $v WHERE rowid = $r", ("$v", vault.Seal(plain)), ("$r", rowid));
                    }
                }
                c.Execute(t, "UPDATE keyring SET sealed_generation = $g, scrub_pending = 1", ("$g", Generation));
            }, cancellationToken);
            scrubPending = true;
        }
        if (scrubPending)
        {
            await database.CompactAsync(cancellationToken);
            await database.WriteAsync((c, t) => c.Execute(t, "UPDATE keyring SET scrub_pending = 0"), cancellationToken);
        }
    }
}
