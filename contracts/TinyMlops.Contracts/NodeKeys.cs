using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace TinyMlops.Contracts;

/// <summary>A node's update identity: the HMAC key its manifests are signed with, and its board class.</summary>
public sealed record NodeKey(byte[] Key, int BoardClass);

/// <summary>
/// The update keys of this gateway's nodes, registered at provisioning (<c>tinymlops provision --gateway-keys FILE</c>):
/// <c>{"nodes": {"node-1": {"key": "hex", "boardClass": 1}}}</c>, owner-only (refused when others may read it).
/// Read again when the file changes. Thread-safe.
/// </summary>
public sealed class NodeKeys(string? path)
{
    private readonly object _gate = new();
    private Dictionary<string, NodeKey> _keys = new(StringComparer.Ordinal);
    private DateTime _stamp;

    /// <summary>Every node with its key and board class (empty without a file).</summary>
    public IReadOnlyDictionary<string, NodeKey> All
    {
        get
        {
            Refresh();
            lock (_gate)
            {
                return _keys;
            }
        }
    }

    /// <summary>Adds or replaces <paramref name="nodeId"/> in the file at <paramref name="path"/> (owner-only).</summary>
    public static void Register(string path, string nodeId, byte[] key, int boardClass) => Rewrite(path, nodeId, new NodeKey(key, boardClass));

    /// <summary>Removes <paramref name="nodeId"/>'s key from the file at <paramref name="path"/>; false when it had none.</summary>
    public static bool Remove(string path, string nodeId)
    {
        if (!File.Exists(path) || !Read(path).ContainsKey(nodeId))
        {
            return false;
        }

        Rewrite(path, nodeId, null);
        return true;
    }

    // The file with nodeId set to key, or without it (null); replaced whole, owner-only.
    private static void Rewrite(string path, string nodeId, NodeKey? key)
    {
        var nodes = new SortedDictionary<string, object>(StringComparer.Ordinal);
        if (File.Exists(path))
        {
            foreach ((string id, NodeKey k) in Read(path))
            {
                nodes[id] = new { key = Convert.ToHexStringLower(k.Key), boardClass = k.BoardClass };
            }
        }

        nodes.Remove(nodeId);
        if (key != null)
        {
            nodes[nodeId] = new { key = Convert.ToHexStringLower(key.Key), boardClass = key.BoardClass };
        }

        SecretFile.WriteAllText(path, JsonSerializer.Serialize(new { nodes }, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private void Refresh()
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            return;
        }

        DateTime stamp = File.GetLastWriteTimeUtc(path);
        if (stamp == _stamp)
        {
            return;
        }

        Dictionary<string, NodeKey> keys = Read(path);
        lock (_gate)
        {
            _keys = keys;
            _stamp = stamp;
        }
    }

    private static Dictionary<string, NodeKey> Read(string path)
    {
        if (SecretFile.IsExposed(path))
        {
            throw new InvalidDataException($"{path} holds node update keys and may be read by others: chmod 600 it");
        }

        try
        {
            using JsonDocument d = JsonDocument.Parse(File.ReadAllBytes(path));
            var keys = new Dictionary<string, NodeKey>(StringComparer.Ordinal);
            foreach (JsonProperty n in d.RootElement.GetProperty("nodes").EnumerateObject())
            {
                byte[] key = Convert.FromHexString(n.Value.GetProperty("key").GetString() ?? "");
                if (!RecordNames.IsValidId(n.Name) || key.Length < 16)
                {
                    throw new InvalidDataException($"{path}: node '{n.Name}' needs a valid id and a key of at least 16 bytes");
                }

                keys[n.Name] = new NodeKey(key, n.Value.GetProperty("boardClass").GetInt32());
            }

            return keys;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path} is not a node key file: {e.Message}", e);
        }
    }
}
