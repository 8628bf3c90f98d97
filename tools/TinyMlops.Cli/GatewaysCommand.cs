using System;
using System.IO;
using TinyMlops.Contracts;
using TinyMlops.Ingestion;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops gateways add|revoke ID --store DIR [--out FILE]</c>: issues (or withdraws) a gateway's credential for
/// the trainer's ingestion service. The token is written owner-only to <c>--out</c> for the gateway's
/// <c>Gateway:Uplink:CredentialFile</c>, never printed; the trainer keeps only its digest in <c>{store}/gateways.json</c>.
/// </summary>
public static class GatewaysCommand
{
    /// <summary><c>gateways add ID --store DIR [--out FILE]</c>.</summary>
    public static int Add(Options o)
    {
        (string id, string registry) = Target(o);
        string output = o.Get("out") ?? Path.Combine("out", "gateways", id + ".credential");
        string token = GatewayCredentials.Issue(registry, id);
        SecretFile.WriteAllText(output, token + "\n");
        Console.WriteLine($"issued a credential for {id} into {output} (owner-only); install it on the gateway and set Gateway:Uplink:CredentialFile to its path");
        return 0;
    }

    /// <summary><c>gateways revoke ID --store DIR</c>.</summary>
    public static int Revoke(Options o)
    {
        (string id, string registry) = Target(o);
        bool removed = GatewayCredentials.Revoke(registry, id);
        Console.WriteLine(removed ? $"revoked {id}: the trainer refuses its uploads from now on" : $"{id} was not registered");
        return removed ? 0 : 1;
    }

    private static (string Id, string Registry) Target(Options o)
    {
        string id = o.Get("id") ?? throw new UsageException("a gateway id is required");
        if (!RecordNames.IsValidId(id))
        {
            throw new UsageException($"gateway id '{id}' is not 1-64 letters, digits, '-', '_' or '.'");
        }

        return (id, Path.Combine(o.Get("store")!, "gateways.json"));
    }
}
