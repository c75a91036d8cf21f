using Parley.Core.Identity;
using Parley.Dht.Records;
using static Parley.Dht.Tests.Records.RecordTestSupport;

namespace Parley.Dht.Tests.Records;

public class RecordStoreTests
{
    private readonly RecordTestSupport _support = new();
    private readonly CountingValidator _plain = new();

    [Fact]
    public void A_valid_record_is_stored_and_read_back()
    {
        var store = SignedStore();
        var key = KeyOf(Alice).ToArray();
        var value = _support.Signed(Alice, 1);

        Assert.Equal(PutOutcome.Stored, store.Put(key, value, Bob.PeerId));

        var stored = store.Get(key);
        Assert.NotNull(stored);
        Assert.Equal(value, stored.Value);
        Assert.Equal(Bob.PeerId, stored.From);
        Assert.Equal(_support.Clock.GetUtcNow(), stored.ReceivedAt);
        Assert.Equal(1, store.Count);
        Assert.Equal(key.Length + value.Length, store.TotalBytes);
    }

    [Fact]
    public void Invalid_records_are_rejected_with_the_validators_reason_and_not_stored()
    {
        var store = SignedStore();
        var forged = SignedRecord.Create(Bob, KeyOf(Alice), Utf8("x"), 1, _support.Clock.GetUtcNow().AddHours(1));

        var outcome = store.Put(KeyOf(Alice).ToArray(), forged, Bob.PeerId);

        Assert.Equal(PutStatus.Rejected, outcome.Status);
        Assert.Contains("owner", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(PutStatus.Rejected, store.Put(Utf8("/unknown/x"), [1], Bob.PeerId).Status);
        Assert.Equal(PutStatus.Rejected, store.Put(KeyOf(Alice).ToArray(), new byte[10 * 1024 * 1024], Bob.PeerId).Status);
        Assert.Equal(0, store.Count);
        Assert.Equal(0, store.TotalBytes);
    }

    [Fact]
    public void The_better_record_is_kept_whichever_arrives_first()
    {
        var store = SignedStore();
        var key = KeyOf(Alice).ToArray();
        var older = _support.Signed(Alice, 1, "old");
        var newer = _support.Signed(Alice, 2, "new");

        Assert.Equal(PutOutcome.Stored, store.Put(key, older, null));
        Assert.Equal(PutOutcome.Stored, store.Put(key, newer, null));
        Assert.Equal(PutOutcome.KeptExisting, store.Put(key, older, null));

        Assert.Equal(newer, store.Get(key)!.Value);
        Assert.Equal(1, store.Count);
        Assert.Equal(key.Length + newer.Length, store.TotalBytes);
    }

    [Fact]
    public void Re_putting_the_same_record_refreshes_its_receipt_time()
    {
        var store = SignedStore();
        var key = KeyOf(Alice).ToArray();
        var value = _support.Signed(Alice, 1, expiresIn: TimeSpan.FromDays(7));
        store.Put(key, value, null);

        _support.Clock.Advance(TimeSpan.FromHours(47));
        Assert.Equal(PutOutcome.Stored, store.Put(key, value, null));
        _support.Clock.Advance(TimeSpan.FromHours(47));

        Assert.NotNull(store.Get(key));
    }

    [Fact]
    public void A_stored_record_that_has_become_invalid_gives_way_to_a_worse_valid_one()
    {
        var store = SignedStore();
        var key = KeyOf(Alice).ToArray();
        store.Put(key, _support.Signed(Alice, 9, expiresIn: TimeSpan.FromHours(1)), null);
        _support.Clock.Advance(TimeSpan.FromHours(1));

        var replacement = _support.Signed(Alice, 1);
        Assert.Equal(PutOutcome.Stored, store.Put(key, replacement, null));

        Assert.Equal(replacement, store.Get(key)!.Value);
    }

    [Fact]
    public void Records_older_than_the_age_limit_are_dropped_on_read()
    {
        var store = SignedStore();
        var key = KeyOf(Alice).ToArray();
        store.Put(key, _support.Signed(Alice, 1, expiresIn: TimeSpan.FromDays(7)), null);

        _support.Clock.Advance(TimeSpan.FromHours(48) - TimeSpan.FromTicks(1));
        Assert.NotNull(store.Get(key));
        Assert.Single(store.All());
        _support.Clock.Advance(TimeSpan.FromTicks(1));

        Assert.Null(store.Get(key));
        Assert.Equal(0, store.Count);
        Assert.Equal(0, store.TotalBytes);
    }

    [Fact]
    public void Signed_records_past_their_own_expiry_are_dropped_on_read()
    {
        var store = SignedStore();
        var key = KeyOf(Alice).ToArray();
        store.Put(key, _support.Signed(Alice, 1, expiresIn: TimeSpan.FromMinutes(5)), null);

        _support.Clock.Advance(TimeSpan.FromMinutes(5));

        Assert.Null(store.Get(key));
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public void RemoveExpired_drops_old_and_no_longer_valid_records_and_All_omits_old_ones()
    {
        var store = SignedStore();
        store.Put(KeyOf(Alice, "a").ToArray(), _support.Signed(Alice, 1, expiresIn: TimeSpan.FromHours(1), name: "a"), null);
        _support.Clock.Advance(TimeSpan.FromHours(24));
        store.Put(KeyOf(Alice, "b").ToArray(), _support.Signed(Alice, 1, expiresIn: TimeSpan.FromDays(7), name: "b"), null);
        store.Put(KeyOf(Alice, "c").ToArray(), _support.Signed(Alice, 1, expiresIn: TimeSpan.FromDays(7), name: "c"), null);
        _support.Clock.Advance(TimeSpan.FromHours(24));
        store.Put(KeyOf(Alice, "d").ToArray(), _support.Signed(Alice, 1, expiresIn: TimeSpan.FromDays(7), name: "d"), null);
        _support.Clock.Advance(TimeSpan.FromHours(24));

        Assert.Single(store.All()); // b and c are 48 h old, a is old and expired; d is 24 h old
        Assert.Equal(3, store.RemoveExpired());

        Assert.Equal(1, store.Count);
        Assert.NotNull(store.Get(KeyOf(Alice, "d").ToArray()));
    }

    [Fact]
    public void The_record_count_limit_refuses_new_keys_but_not_replacements()
    {
        var store = PlainStore(new RecordStoreOptions { MaxRecords = 3 });
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(PutOutcome.Stored, store.Put(Utf8($"/t/{i}"), [1], null));
        }

        var outcome = store.Put(Utf8("/t/3"), [1], null);

        Assert.Equal(PutStatus.Rejected, outcome.Status);
        Assert.Contains("full", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/0"), [2], null));
        Assert.Equal(3, store.Count);
    }

    [Fact]
    public void A_full_store_takes_new_records_once_old_ones_age_out()
    {
        var store = PlainStore(new RecordStoreOptions { MaxRecords = 2 });
        store.Put(Utf8("/t/0"), [1], null);
        _support.Clock.Advance(TimeSpan.FromHours(1));
        store.Put(Utf8("/t/1"), [1], null);
        Assert.Equal(PutStatus.Rejected, store.Put(Utf8("/t/2"), [1], null).Status);

        _support.Clock.Advance(TimeSpan.FromHours(47));

        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/2"), [1], null));
        Assert.Null(store.Get(Utf8("/t/0")));
        Assert.NotNull(store.Get(Utf8("/t/1")));
    }

    [Fact]
    public void The_byte_limit_counts_keys_and_values()
    {
        var store = PlainStore(new RecordStoreOptions { MaxTotalBytes = 100 });
        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/a"), new byte[46], null)); // 4 + 46 = 50

        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/b"), new byte[46], null)); // 100 in all
        Assert.Equal(PutStatus.Rejected, store.Put(Utf8("/t/c"), [1], null).Status);
        Assert.Equal(PutStatus.Rejected, store.Put(Utf8("/t/d"), new byte[200], null).Status);
        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/a"), [9, .. new byte[45]], null)); // same size replaces

        Assert.Equal(100, store.TotalBytes);
    }

    [Fact]
    public void The_per_peer_limit_applies_to_each_sender_but_not_to_this_node()
    {
        var store = PlainStore(new RecordStoreOptions { MaxRecordsPerPeer = 2 });
        store.Put(Utf8("/t/1"), [1], Alice.PeerId);
        store.Put(Utf8("/t/2"), [1], Alice.PeerId);

        var outcome = store.Put(Utf8("/t/3"), [1], Alice.PeerId);

        Assert.Equal(PutStatus.Rejected, outcome.Status);
        Assert.Contains("peer", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/1"), [2], Alice.PeerId)); // replacing its own record
        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/3"), [1], Bob.PeerId));
        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/4"), [1], null));
        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/5"), [1], null));
        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/6"), [1], null));
    }

    [Fact]
    public void A_peers_quota_frees_up_when_its_records_are_replaced_or_expire()
    {
        var store = PlainStore(new RecordStoreOptions { MaxRecordsPerPeer = 1 });
        store.Put(Utf8("/t/1"), [1], Alice.PeerId);
        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/1"), [2], Bob.PeerId)); // now Bob's

        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/2"), [1], Alice.PeerId));
        _support.Clock.Advance(TimeSpan.FromHours(48));
        store.RemoveExpired();

        Assert.Equal(PutOutcome.Stored, store.Put(Utf8("/t/3"), [1], Alice.PeerId));
    }

    [Fact]
    public void Limits_are_checked_before_the_validator_runs()
    {
        var store = PlainStore(new RecordStoreOptions { MaxRecordsPerPeer = 1 });
        store.Put(Utf8("/t/1"), [1], Alice.PeerId);
        var validations = _plain.Validations;

        for (var i = 0; i < 1000; i++)
        {
            store.Put(Utf8($"/t/spam{i}"), [1], Alice.PeerId);
        }

        Assert.Equal(validations, _plain.Validations);
    }

    [Fact]
    public void Concurrent_puts_keep_the_counters_consistent()
    {
        var store = PlainStore(new RecordStoreOptions { MaxRecords = 500, MaxRecordsPerPeer = 1000 });
        var peers = Enumerable.Range(1, 4).Select(i => Identity((byte)(10 + i)).PeerId).ToArray();

        Parallel.For(0, 2000, i => store.Put(Utf8($"/t/{i % 700}"), [(byte)(i % 7), 0], peers[i % peers.Length]));

        var all = store.All();
        Assert.Equal(500, store.Count);
        Assert.Equal(all.Sum(record => record.Key.Length + record.Value.Length), store.TotalBytes);
    }

    private RecordStore SignedStore() => new(_support.Registry(), _support.Clock);

    private RecordStore PlainStore(RecordStoreOptions options)
    {
        var registry = new RecordValidatorRegistry();
        registry.Register("t", _plain);
        return new RecordStore(registry, _support.Clock, options);
    }

    /// <summary>Accepts any non-empty value; the greatest first byte wins. Counts validations.</summary>
    private sealed class CountingValidator : IRecordValidator
    {
        private int _validations;

        public int Validations => _validations;

        public void Validate(RecordKey key, ReadOnlySpan<byte> value)
        {
            Interlocked.Increment(ref _validations);
            if (value.IsEmpty)
            {
                throw new RecordValidationException("empty");
            }
        }

        public int Select(RecordKey key, IReadOnlyList<byte[]> values)
        {
            var best = 0;
            for (var i = 1; i < values.Count; i++)
            {
                if (values[i][0] > values[best][0])
                {
                    best = i;
                }
            }
            return best;
        }
    }
}
