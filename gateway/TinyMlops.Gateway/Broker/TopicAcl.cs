using System;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Gateway.Broker;

/// <summary>
/// Who may do what on the broker. A node logs in with its id as both client id and user name; it may publish only
/// under <c>tinymlops/{id}/up/…</c> and subscribe only under <c>tinymlops/{id}/down/…</c>. Only the gateway publishes
/// under <c>down/</c>. The same split is written as a Mosquitto ACL by <see cref="MosquittoConfig"/>. Pure functions.
/// </summary>
public static class TopicAcl
{
    /// <summary>The user name the gateway itself uses on a broker.</summary>
    public const string GatewayUserPrefix = "gateway";

    /// <summary>True when a node may open a session with these ids.</summary>
    public static bool NodeMayConnect(string clientId, string? userName) =>
        userName != null && string.Equals(clientId, userName, StringComparison.Ordinal) && Topics.IsAssignableNodeId(userName);

    /// <summary>True when node <paramref name="nodeId"/> may publish to <paramref name="topic"/>.</summary>
    public static bool NodeMayPublish(string nodeId, string topic) =>
        topic.StartsWith(Topics.Root + "/" + nodeId + "/up/", StringComparison.Ordinal)
        && topic.Length > Topics.Root.Length + nodeId.Length + 5
        && topic.IndexOfAny(Wildcards) < 0;

    /// <summary>True when node <paramref name="nodeId"/> may subscribe to <paramref name="filter"/>.</summary>
    public static bool NodeMaySubscribe(string nodeId, string filter)
    {
        string down = Topics.Root + "/" + nodeId + "/down/";
        if (!filter.StartsWith(down, StringComparison.Ordinal))
        {
            return false;
        }

        string rest = filter.Substring(down.Length);
        // '#' only as the whole remainder; '+' never (it could not reach another node's topics, but keep it simple).
        return rest == "#" || (rest.Length > 0 && rest.IndexOfAny(Wildcards) < 0);
    }

    /// <summary>Splits <c>tinymlops/{node}/up/{kind}</c>; false for anything else.</summary>
    public static bool TryParseUplink(string topic, out string nodeId, out string kind)
    {
        nodeId = kind = "";
        string[] p = topic.Split('/');
        if (p.Length != 4 || p[0] != Topics.Root || p[2] != "up" || !Topics.IsValidNodeId(p[1]) || p[3].Length == 0)
        {
            return false;
        }

        nodeId = p[1];
        kind = p[3];
        return true;
    }

    /// <summary>The node of <c>tinymlops/{node}/down/{kind}</c>; false for anything else.</summary>
    public static bool TryParseDownlink(string topic, out string nodeId)
    {
        nodeId = "";
        string[] p = topic.Split('/');
        if (p.Length != 4 || p[0] != Topics.Root || p[2] != "down" || !Topics.IsValidNodeId(p[1]) || p[3].Length == 0 || topic.IndexOfAny(Wildcards) >= 0)
        {
            return false;
        }

        nodeId = p[1];
        return true;
    }

    private static readonly char[] Wildcards = { '+', '#' };
}
