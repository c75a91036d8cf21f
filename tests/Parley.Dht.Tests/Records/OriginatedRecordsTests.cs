using Parley.Dht.Records;
using Parley.Testing;

namespace Parley.Dht.Tests.Records;

public class OriginatedRecordsTests
{
    private readonly ManualTimeProvider _clock = new();

    [Fact]
    public void A_record_falls_due_one_hour_after_it_was_published()
    {
        var originated = new OriginatedRecords(_clock);
        originated.TrackRecord([1], [0xaa]);

        _clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Empty(originated.DueForRepublish());
        _clock.Advance(TimeSpan.FromMinutes(1));

        var due = Assert.Single(originated.DueForRepublish());
        Assert.Equal(OriginatedKind.Record, due.Kind);
        Assert.Equal([1], due.Key);
        Assert.Equal([0xaa], due.Value);
        Assert.Equal(_clock.GetUtcNow() - TimeSpan.FromHours(1), due.LastPublished);
    }

    [Fact]
    public void Tracking_again_after_a_republish_restarts_the_interval_with_the_new_value()
    {
        var originated = new OriginatedRecords(_clock);
        originated.TrackRecord([1], [0xaa]);
        _clock.Advance(TimeSpan.FromHours(1));

        originated.TrackRecord([1], [0xbb]);
        Assert.Empty(originated.DueForRepublish());
        _clock.Advance(TimeSpan.FromHours(1));

        Assert.Equal([0xbb], Assert.Single(originated.DueForRepublish()).Value);
        Assert.Equal(1, originated.Count);
    }

    [Fact]
    public void Providers_fall_due_after_their_own_interval()
    {
        var originated = new OriginatedRecords(_clock);
        originated.TrackProvider([7]);
        originated.TrackRecord([7], [1]);

        _clock.Advance(TimeSpan.FromHours(21));
        Assert.Equal([OriginatedKind.Record], originated.DueForRepublish().Select(item => item.Kind));
        _clock.Advance(TimeSpan.FromHours(1));

        var due = originated.DueForRepublish();
        Assert.Equal([OriginatedKind.Record, OriginatedKind.Provider], due.Select(item => item.Kind)); // longest overdue first
        Assert.Null(due[1].Value);
    }

    [Fact]
    public void NextDue_tells_when_to_wake_and_untracked_items_are_forgotten()
    {
        var originated = new OriginatedRecords(_clock, TimeSpan.FromMinutes(30), TimeSpan.FromHours(2));
        Assert.Null(originated.NextDue);
        var start = _clock.GetUtcNow();
        originated.TrackProvider([1]);
        originated.TrackRecord([2], [0]);

        Assert.Equal(start + TimeSpan.FromMinutes(30), originated.NextDue);
        Assert.True(originated.Untrack(OriginatedKind.Record, [2]));
        Assert.False(originated.Untrack(OriginatedKind.Record, [1]));
        Assert.Equal(start + TimeSpan.FromHours(2), originated.NextDue);

        _clock.Advance(TimeSpan.FromDays(1));
        Assert.Equal(OriginatedKind.Provider, Assert.Single(originated.DueForRepublish()).Kind);
    }
}
