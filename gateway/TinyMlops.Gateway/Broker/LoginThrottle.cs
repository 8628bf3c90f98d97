using System;
using System.Collections.Generic;

namespace TinyMlops.Gateway.Broker;

/// <summary>
/// Back-off for failed logins, per remote address and per node id: after a few free failures each further one
/// doubles the wait (up to a cap) during which that address, or that id, is refused without spending PBKDF2 work on
/// it. The per-id block does not apply to the address the id last logged in from, so guessing at a node's
/// password from elsewhere cannot lock the node itself out. Both tables are bounded. Thread-safe.
/// </summary>
public sealed class LoginThrottle(int freeFailures = 3, double maxAddressBlockSeconds = 300, double maxIdBlockSeconds = 60, int maxEntries = 10_000)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Entry> _addresses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Entry> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _lastGoodAddress = new(StringComparer.Ordinal);

    /// <summary>
    /// True when a login from <paramref name="address"/> as <paramref name="id"/> must be refused now, unchecked;
    /// <paramref name="retryAfter"/> says for how long.
    /// </summary>
    public bool IsBlocked(string address, string id, DateTime nowUtc, out TimeSpan retryAfter)
    {
        lock (_gate)
        {
            retryAfter = TimeSpan.Zero;
            if (_addresses.TryGetValue(address, out Entry? a) && a.BlockedUntil > nowUtc)
            {
                retryAfter = a.BlockedUntil - nowUtc;
            }

            bool knownHome = _lastGoodAddress.TryGetValue(id, out string? home) && home == address;
            if (!knownHome && _ids.TryGetValue(id, out Entry? i) && i.BlockedUntil > nowUtc && i.BlockedUntil - nowUtc > retryAfter)
            {
                retryAfter = i.BlockedUntil - nowUtc;
            }

            return retryAfter > TimeSpan.Zero;
        }
    }

    /// <summary>Counts a failed login; returns true when it started (or lengthened) a block.</summary>
    public bool Failed(string address, string id, DateTime nowUtc)
    {
        lock (_gate)
        {
            bool a = Bump(_addresses, address, nowUtc, maxAddressBlockSeconds);
            bool i = Bump(_ids, id, nowUtc, maxIdBlockSeconds);
            return a || i;
        }
    }

    /// <summary>A successful login: clears the id's and the address's failures and remembers where the id lives.</summary>
    public void Succeeded(string address, string id)
    {
        lock (_gate)
        {
            _addresses.Remove(address);
            _ids.Remove(id);
            if (_lastGoodAddress.Count >= maxEntries && !_lastGoodAddress.ContainsKey(id))
            {
                _lastGoodAddress.Clear(); // bounded: forgetting homes only makes the per-id block stricter
            }

            _lastGoodAddress[id] = address;
        }
    }

    /// <summary>Addresses and ids currently tracked (for the metrics).</summary>
    public int Tracked
    {
        get
        {
            lock (_gate)
            {
                return _addresses.Count + _ids.Count;
            }
        }
    }

    private bool Bump(Dictionary<string, Entry> table, string key, DateTime now, double maxSeconds)
    {
        if (!table.TryGetValue(key, out Entry? e))
        {
            if (table.Count >= maxEntries)
            {
                Evict(table, now);
            }

            table[key] = e = new Entry();
        }

        e.Failures++;
        e.LastFailure = now;
        if (e.Failures <= freeFailures)
        {
            return false;
        }

        double seconds = Math.Min(maxSeconds, Math.Pow(2, Math.Min(30, e.Failures - freeFailures - 1)));
        e.BlockedUntil = now.AddSeconds(seconds);
        return true;
    }

    // Drops entries whose block has ended and that have been quiet for the longest cap; if all are live, the oldest half.
    private static void Evict(Dictionary<string, Entry> table, DateTime now)
    {
        var stale = new List<string>();
        foreach (KeyValuePair<string, Entry> kv in table)
        {
            if (kv.Value.BlockedUntil <= now && now - kv.Value.LastFailure > TimeSpan.FromMinutes(10))
            {
                stale.Add(kv.Key);
            }
        }

        if (stale.Count == 0)
        {
            var all = new List<KeyValuePair<string, Entry>>(table);
            all.Sort((x, y) => x.Value.LastFailure.CompareTo(y.Value.LastFailure));
            for (int i = 0; i < all.Count / 2; i++)
            {
                stale.Add(all[i].Key);
            }
        }

        foreach (string k in stale)
        {
            table.Remove(k);
        }
    }

    private sealed class Entry
    {
        public int Failures;
        public DateTime LastFailure;
        public DateTime BlockedUntil;
    }
}
