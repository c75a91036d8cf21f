using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Records;
using Parley.Testing;

namespace Parley.Dht.Tests.Records;

public class ProviderStoreTests
{
    private static readonly byte[] Cid = [0x01, 0x55, 0x12, 0x20, .. new byte[32]];
    private static readonly Multiaddr Address = Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001");

    private readonly ManualTimeProvider _clock = new();

    [Fact]
    public void Providers_come_back_newest_first_up_to_max()
    {
        var store = new ProviderStore(_clock);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(store.Add(Cid, Peer(i), [Address]));
            _clock.Advance(TimeSpan.FromMinutes(1));
        }

        var providers = store.Get(Cid, 3);

        Assert.Equal([Peer(4), Peer(3), Peer(2)], providers.Select(provider => provider.Provider));
        Assert.Equal([Address], providers[0].Addresses);
        Assert.Equal(_clock.GetUtcNow() - TimeSpan.FromMinutes(1), providers[0].AddedAt);
        Assert.Empty(store.Get([0x01], 10));
    }

    [Fact]
    public void A_re_announcement_refreshes_the_entry_and_keeps_addresses_when_none_are_given()
    {
        var store = new ProviderStore(_clock);
        store.Add(Cid, Peer(1), [Address]);
        store.Add(Cid, Peer(2), [Address]);
        _clock.Advance(TimeSpan.FromHours(40));

        store.Add(Cid, Peer(1), []);
        _clock.Advance(TimeSpan.FromHours(10));

        var provider = Assert.Single(store.Get(Cid, 10));
        Assert.Equal(Peer(1), provider.Provider);
        Assert.Equal([Address], provider.Addresses);
        Assert.Equal(1, store.ProviderCount);
    }

    [Fact]
    public void Announcements_expire_after_the_ttl()
    {
        var store = new ProviderStore(_clock);
        store.Add(Cid, Peer(1), [Address]);
        _clock.Advance(TimeSpan.FromHours(1));
        store.Add([0x02], Peer(1), [Address]);

        _clock.Advance(TimeSpan.FromHours(47));
        Assert.Empty(store.Get(Cid, 10));
        Assert.Single(store.Get([0x02], 10));
        _clock.Advance(TimeSpan.FromHours(1));

        Assert.Equal(1, store.RemoveExpired());
        Assert.Equal(0, store.KeyCount);
        Assert.Equal(0, store.ProviderCount);
    }

    [Fact]
    public void A_key_with_the_most_providers_refuses_newcomers_until_some_expire()
    {
        var store = new ProviderStore(_clock, new ProviderStoreOptions { MaxProvidersPerKey = 3 });
        for (var i = 0; i < 3; i++)
        {
            store.Add(Cid, Peer(i), [Address]);
        }

        Assert.False(store.Add(Cid, Peer(3), [Address]));
        Assert.True(store.Add(Cid, Peer(0), [Address])); // an existing provider may renew
        _clock.Advance(TimeSpan.FromHours(48));

        Assert.True(store.Add(Cid, Peer(3), [Address]));
        Assert.Equal([Peer(3)], store.Get(Cid, 10).Select(provider => provider.Provider));
    }

    [Fact]
    public void The_default_limits_are_100_providers_per_key_10000_keys_1000_keys_per_provider_48_hours()
    {
        var options = new ProviderStoreOptions();

        Assert.Equal(100, options.MaxProvidersPerKey);
        Assert.Equal(10_000, options.MaxKeys);
        Assert.Equal(1_000, options.MaxKeysPerProvider);
        Assert.Equal(TimeSpan.FromHours(48), options.ProviderRecordTtl);
    }

    [Fact]
    public void The_key_limit_refuses_new_keys_until_old_ones_expire()
    {
        var store = new ProviderStore(_clock, new ProviderStoreOptions { MaxKeys = 2 });
        store.Add([1], Peer(1), []);
        store.Add([2], Peer(2), []);

        Assert.False(store.Add([3], Peer(3), []));
        Assert.True(store.Add([1], Peer(3), [])); // a new provider of a known key is fine
        _clock.Advance(TimeSpan.FromHours(48));

        Assert.True(store.Add([3], Peer(3), []));
        Assert.Equal(1, store.KeyCount);
    }

    [Fact]
    public void One_provider_can_announce_only_so_many_keys()
    {
        var store = new ProviderStore(_clock, new ProviderStoreOptions { MaxKeysPerProvider = 2 });
        store.Add([1], Peer(1), []);
        store.Add([2], Peer(1), []);

        Assert.False(store.Add([3], Peer(1), []));
        Assert.True(store.Add([3], Peer(2), []));
        Assert.True(store.Add([1], Peer(1), []));
        Assert.Equal(3, store.KeyCount);
    }

    [Fact]
    public void Addresses_are_capped_and_absurd_keys_refused()
    {
        var store = new ProviderStore(_clock);
        var addresses = Enumerable.Range(1, 100).Select(port => Multiaddr.Parse($"/ip4/10.0.0.1/tcp/{port}")).ToArray();

        store.Add(Cid, Peer(1), addresses);

        Assert.Equal(16, store.Get(Cid, 1)[0].Addresses.Count);
        Assert.False(store.Add([], Peer(1), []));
        Assert.False(store.Add(new byte[ProviderStore.MaxKeyLength + 1], Peer(1), []));
    }

    private static PeerId Peer(int n)
    {
        var digest = new byte[32];
        BitConverter.TryWriteBytes(digest, n);
        return PeerId.FromBytes([0x12, 0x20, .. digest]);
    }
}
