using Parley.Dht.Records;
using static Parley.Dht.Tests.Records.RecordTestSupport;

namespace Parley.Dht.Tests.Records;

public class MergingRecordTests
{
    private readonly RecordTestSupport _support = new();
    private readonly byte[] _key = UnionValidator.Key("friends").ToArray();

    [Fact]
    public void The_store_keeps_the_merge_of_what_it_holds_and_what_arrives()
    {
        var store = Store();

        Assert.Equal(PutOutcome.Stored, store.Put(_key, UnionValidator.Value("ann"), Bob.PeerId));
        Assert.Equal(PutOutcome.Stored, store.Put(_key, UnionValidator.Value("cy", "ann", "bo"), Alice.PeerId));

        var stored = store.Get(_key)!;
        Assert.Equal(UnionValidator.Value("ann", "cy", "bo"), stored.Value);
        Assert.Equal(Alice.PeerId, stored.From);
        Assert.Equal(1, store.Count);
        Assert.Equal(_key.Length + stored.Value.Length, store.TotalBytes);
    }

    [Fact]
    public void A_put_that_adds_nothing_keeps_the_record_and_refreshes_its_receipt_time()
    {
        var store = Store();
        var full = UnionValidator.Value("ann", "bo");
        store.Put(_key, full, null);

        _support.Clock.Advance(TimeSpan.FromHours(47));
        Assert.Equal(PutOutcome.KeptExisting, store.Put(_key, UnionValidator.Value("bo"), Bob.PeerId));
        Assert.Equal(PutOutcome.KeptExisting, store.Put(_key, full, Bob.PeerId));
        _support.Clock.Advance(TimeSpan.FromHours(47));

        var stored = store.Get(_key);
        Assert.NotNull(stored);
        Assert.Equal(full, stored.Value);
        Assert.Null(stored.From);
    }

    [Fact]
    public void An_invalid_record_is_rejected_and_not_merged()
    {
        var store = Store();
        store.Put(_key, UnionValidator.Value("ann"), null);

        var outcome = store.Put(_key, UnionValidator.Value("bo", "bo"), Bob.PeerId);

        Assert.Equal(PutStatus.Rejected, outcome.Status);
        Assert.Contains("twice", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(UnionValidator.Value("ann"), store.Get(_key)!.Value);
    }

    [Fact]
    public void The_registry_merges_for_merging_namespaces_and_selects_for_the_others()
    {
        var registry = Registry();
        var signedKey = KeyOf(Alice);
        var older = _support.Signed(Alice, 1);
        var newer = _support.Signed(Alice, 2);

        var key = UnionValidator.Key("friends");
        Assert.True(registry.IsMerging(key));
        Assert.False(registry.IsMerging(signedKey));
        Assert.Equal(UnionValidator.Value("ann", "bo"), registry.Merge(key, UnionValidator.Value("ann"), UnionValidator.Value("bo")));
        Assert.Same(newer, registry.Merge(signedKey, older, newer));
        Assert.Same(newer, registry.Merge(signedKey, newer, older));
        var again = _support.Signed(Alice, 2);
        Assert.Same(again, registry.Merge(signedKey, newer, again));
        Assert.Throws<RecordValidationException>(() => registry.Merge(RecordKey.Parse("/unknown/x"), [1], [2]));
    }

    private RecordValidatorRegistry Registry()
    {
        var registry = _support.Registry();
        registry.Register(UnionValidator.Namespace, new UnionValidator());
        return registry;
    }

    private RecordStore Store() => new(Registry(), _support.Clock);
}
