using System.Globalization;
using System.Text;

namespace TinyMlops.Gateway.Broker;

/// <summary>
/// The Mosquitto settings that give an external broker the same rules as <see cref="TopicAcl"/>: no anonymous
/// clients, client id forced to the user name, each node confined to its own <c>up/</c> (write) and <c>down/</c>
/// (read) topics, and the gateway user alone reading every node's uplink and writing their downlinks.
/// </summary>
public static class MosquittoConfig
{
    /// <summary>The ACL file.</summary>
    public static string Acl(string gatewayUser) => new StringBuilder()
        .Append("# TinyMlops: written by MosquittoConfig.Acl\n")
        .Append(CultureInfo.InvariantCulture, $"user {gatewayUser}\n")
        .Append("topic read tinymlops/+/up/#\n")
        .Append("topic write tinymlops/+/down/#\n\n")
        .Append("# every other user is a node: its own topics only (%u = user name = client id)\n")
        .Append("pattern write tinymlops/%u/up/#\n")
        .Append("pattern read tinymlops/%u/down/#\n")
        .ToString();

    /// <summary>
    /// A listener section on <paramref name="port"/> using the given password and ACL files, with the embedded
    /// broker's limits: packets no larger than the largest wire frame plus headers (Mosquitto closes a client that
    /// sends more, before or after login) and a cap on connections.
    /// </summary>
    public static string Listener(string bindAddress, int port, string passwordFile, string aclFile, int maxConnections = 1000) => new StringBuilder()
        .Append(CultureInfo.InvariantCulture, $"max_packet_size {TinyMlops.Firmware.Core.Wire.WireCodec.MaxFrame + 1024}\n")
        .Append(CultureInfo.InvariantCulture, $"listener {port} {bindAddress}\n")
        .Append(CultureInfo.InvariantCulture, $"max_connections {maxConnections}\n")
        .Append("allow_anonymous false\n")
        .Append(CultureInfo.InvariantCulture, $"password_file {passwordFile}\n")
        .Append(CultureInfo.InvariantCulture, $"acl_file {aclFile}\n")
        .Append("use_username_as_clientid true\n")
        .ToString();
}
