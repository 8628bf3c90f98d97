using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TinyMlops.Contracts;
using TinyMlops.Registry;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops nodes</c>: the registered nodes (the registry's: board, gateway, site, their newest rollout state),
/// with what their gateway last heard from them (<c>--gateway-url</c>: last seen, model, update state); and
/// <c>nodes revoke ID</c>, which removes a node's registration, its broker login and its update key everywhere given.
/// </summary>
public static class NodesCommand
{
    /// <summary>Lists the registered nodes.</summary>
    public static int List(Options o)
    {
        using NodeBook registry = NodeBook.Open(o, optional: false)!;
        IReadOnlyList<NodeStatus> nodes = registry.List();
        using GatewayClient? gateway = GatewayClient.From(o);
        Dictionary<string, GatewayNodeView> heard = gateway == null ? [] : Heard(gateway);
        Console.WriteLine($"{"node",-20} {"board",-22} {"gateway",-12} {"site",-14} {"model",-10} {"last seen (UTC)",-20} {"update",-14} rollout");
        foreach ((RegisteredNode n, string? rollout) in nodes)
        {
            heard.TryGetValue(n.Id, out GatewayNodeView? g);
            string model = g?.ModelVersion is long v ? (v == 0 ? "none" : $"{g.ModelId}.{v}") : "-";
            Console.WriteLine($"{n.Id,-20} {n.Board,-22} {n.Gateway ?? "-",-12} {n.Site ?? "-",-14} {model,-10} {(g?.LastSeen is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss") : "-"),-20} {g?.UpdateState ?? "-",-14} {rollout ?? "-"}");
        }

        foreach (GatewayNodeView g in heard.Values.Where(g => nodes.All(n => n.Node.Id != g.Id)))
        {
            Console.WriteLine($"{g.Id}: known to the gateway but not registered here");
        }

        Console.WriteLine($"{nodes.Count} registered node(s) in {registry.Location}{(o.Get("gateway-url") == null ? "; give --gateway-url for last seen, model and update state" : "")}");
        return 0;
    }

    /// <summary>Removes a node's registration, login and update key.</summary>
    public static int Revoke(Options o)
    {
        string node = o.Get("id")!;
        if (!Firmware.Core.Node.Topics.IsValidNodeId(node))
        {
            throw new UsageException($"'{LogText.Safe(node)}' is not a node id");
        }

        var removed = new List<string>();
        using (NodeBook? registry = NodeBook.Open(o, optional: true))
        {
            if (registry?.Remove(node) == true)
            {
                removed.Add($"its registration in {registry.Location}");
            }
        }

        if (o.Get("gateway") is { } gateway)
        {
            if (NodeRegistry.Remove(Path.Combine(gateway, "nodes.json"), node))
            {
                removed.Add($"its login in {Path.Combine(gateway, "nodes.json")} (the gateway refuses it from its next connection)");
            }

            if (NodeKeys.Remove(Path.Combine(gateway, "node-keys.json"), node))
            {
                removed.Add($"its update key in {Path.Combine(gateway, "node-keys.json")}");
            }
        }

        if (removed.Count == 0)
        {
            throw new CliException($"node {node} is not registered in the registry{(o.Get("gateway") == null ? " (give --gateway DIR for its gateway's files)" : " or the gateway's files")}");
        }

        Console.WriteLine($"revoked {node}: removed {string.Join("; ", removed)}");
        return 0;
    }

    private static Dictionary<string, GatewayNodeView> Heard(GatewayClient gateway)
    {
        try
        {
            return gateway.Nodes().ToDictionary(n => n.Id, StringComparer.Ordinal);
        }
        catch (Exception e) when (e is System.Net.Http.HttpRequestException or System.Threading.Tasks.TaskCanceledException or System.Text.Json.JsonException)
        {
            throw new CliException($"gateway {gateway.Url} did not answer: {e.Message}");
        }
    }
}
