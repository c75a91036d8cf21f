using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace Parley.Storage;

/// <summary>
/// Short forms for parameterised commands; every value goes in as a parameter, never into the SQL text. Commands are
/// kept per connection and SQL text, so each statement is prepared once, not on every call (half the cost of a small
/// write). Connections are used under <see cref="SqliteDatabase"/>'s lock only, so the cache needs none of its own.
/// </summary>
public static class SqliteCommands
{
    private static readonly ConditionalWeakTable<SqliteConnection, Dictionary<string, SqliteCommand>> Prepared = [];

    public static int Execute(this SqliteConnection connection, SqliteTransaction? transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters) =>
        Bind(connection, transaction, sql, parameters).ExecuteNonQuery();

    public static object? Scalar(this SqliteConnection connection, SqliteTransaction? transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var value = Bind(connection, transaction, sql, parameters).ExecuteScalar();
        return value is DBNull ? null : value;
    }

    /// <summary>Reads every row of a query through <paramref name="map"/>.</summary>
    public static List<T> Query<T>(this SqliteConnection connection, SqliteTransaction? transaction, string sql, Func<SqliteDataReader, T> map, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        ArgumentNullException.ThrowIfNull(map);
        using var reader = Bind(connection, transaction, sql, parameters).ExecuteReader();
        var rows = new List<T>();
        while (reader.Read())
        {
            rows.Add(map(reader));
        }
        return rows;
    }

    // Without a transaction object: a read, or a write inside a transaction opened with SQL (as a group commit's is).
    public static int Execute(this SqliteConnection connection, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters) =>
        Execute(connection, null, sql, parameters);

    public static object? Scalar(this SqliteConnection connection, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters) =>
        Scalar(connection, null, sql, parameters);

    public static List<T> Query<T>(this SqliteConnection connection, string sql, Func<SqliteDataReader, T> map, params ReadOnlySpan<(string Name, object? Value)> parameters) =>
        Query(connection, null, sql, map, parameters);

    public static byte[]? GetBlobOrNull(this SqliteDataReader reader, int ordinal)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return reader.IsDBNull(ordinal) ? null : (byte[])reader.GetValue(ordinal);
    }

    private static SqliteCommand Bind(SqliteConnection connection, SqliteTransaction? transaction, string sql, ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var commands = Prepared.GetOrCreateValue(connection);
        if (!commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            commands[sql] = command;
        }
        command.Transaction = transaction;
        if (command.Parameters.Count == parameters.Length)
        {
            // The same statement takes the same parameters every time: only their values change.
            for (var i = 0; i < parameters.Length; i++)
            {
                command.Parameters[i].Value = parameters[i].Value ?? DBNull.Value;
            }
            return command;
        }
        command.Parameters.Clear();
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }
}
