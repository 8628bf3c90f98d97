using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using TinyMlops.Contracts;

namespace TinyMlops.Ingestion;

/// <summary>
/// The gateways the trainer accepts, each with a token the trainer issued, stored only as its SHA-256 digest
/// (tokens are 256 random bits, so a plain digest suffices): <c>{"gateways":[{"id":"gw-1","tokenSha256":"…"}]}</c>,
/// owner-only. Read again when the file changes. Thread-safe.
/// </summary>
public sealed class GatewayCredentials(string path)
{
    private readonly object _gate = new();
    private Dictionary<string, byte[]> _digests = new(StringComparer.Ordinal);
    private DateTime _stamp;

    /// <summary>The file.</summary>
    public string Path => path;

    /// <summary>Issues a new token for <paramref name="gatewayId"/> (replacing any old one) and returns it; only its digest is stored.</summary>
    public static string Issue(string path, string gatewayId)
    {
        if (!RecordNames.IsValidId(gatewayId))
        {
            throw new ArgumentException($"gateway id '{gatewayId}' is not 1-64 letters, digits, '-', '_' or '.'", nameof(gatewayId));
        }

        string token = Base64Url(RandomNumberGenerator.GetBytes(32));
        Dictionary<string, string> entries = Read(path);
        entries[gatewayId] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        Save(path, entries);
        return token;
    }

    /// <summary>Removes <paramref name="gatewayId"/>; false when it was not listed.</summary>
    public static bool Revoke(string path, string gatewayId)
    {
        Dictionary<string, string> entries = Read(path);
        if (!entries.Remove(gatewayId))
        {
            return false;
        }

        Save(path, entries);
        return true;
    }

    /// <summary>True when at least one gateway is registered.</summary>
    public bool Any
    {
        get
        {
            Refresh();
            lock (_gate)
            {
                return _digests.Count > 0;
            }
        }
    }

    /// <summary>The gateway a bearer value (<c>{gatewayId}.{token}</c>) proves, or null.</summary>
    public string? Authenticate(string? authorization)
    {
        if (authorization == null || !authorization.StartsWith("Bearer ", StringComparison.Ordinal) || authorization.Length > 512
            || !GatewayAuth.TryParse(authorization[7..].Trim(), out string id, out string token))
        {
            return null;
        }

        Refresh();
        byte[]? expected;
        lock (_gate)
        {
            _digests.TryGetValue(id, out expected);
        }

        byte[] actual = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        bool match = CryptographicOperations.FixedTimeEquals(expected ?? new byte[32], actual);
        return expected != null && match ? id : null;
    }

    private void Refresh()
    {
        lock (_gate)
        {
            DateTime stamp = File.Exists(path) ? File.GetLastWriteTimeUtc(path) : DateTime.MinValue;
            if (stamp == _stamp)
            {
                return;
            }

            var digests = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            try
            {
                foreach (KeyValuePair<string, string> e in Read(path))
                {
                    digests[e.Key] = Convert.FromHexString(e.Value);
                }
            }
            catch (Exception e) when (e is InvalidDataException or FormatException or IOException)
            {
                return; // a damaged or half-written file keeps the last good list
            }

            _digests = digests;
            _stamp = stamp;
        }
    }

    private static Dictionary<string, string> Read(string path)
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return entries;
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
            foreach (JsonElement g in doc.RootElement.GetProperty("gateways").EnumerateArray())
            {
                string id = g.GetProperty("id").GetString() ?? "";
                string digest = g.GetProperty("tokenSha256").GetString() ?? "";
                if (!RecordNames.IsValidId(id) || digest.Length != 64)
                {
                    throw new InvalidDataException($"gateways file {path}: bad entry '{id}'");
                }

                entries[id] = digest;
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"gateways file {path}: {e.Message}", e);
        }

        return entries;
    }

    private static void Save(string path, Dictionary<string, string> entries)
    {
        var list = new List<Dictionary<string, string>>();
        foreach (KeyValuePair<string, string> e in entries)
        {
            list.Add(new Dictionary<string, string> { ["id"] = e.Key, ["tokenSha256"] = e.Value });
        }

        SecretFile.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, object> { ["gateways"] = list }, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static string Base64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
