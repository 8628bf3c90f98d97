using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace TinyMlops.NanoApiCheck;

/// <summary>A type from the listings.</summary>
public sealed class ListedType
{
    public required string Id { get; init; }          // e.g. System.Device.Gpio.GpioPin, System.Action`1
    public required string Assembly { get; init; }
    public required string Kind { get; init; }        // class, struct, enum, interface, delegate
    public bool IsStatic { get; init; }
    public bool IsAbstract { get; init; }
    public bool IsSealed { get; init; }
    public string? Base { get; init; }
    public List<string> Interfaces { get; } = new();
    public List<ListedMember> Members { get; } = new();
    public string? DeclaringType { get; set; }
    public int Arity => Id.Contains('`') ? int.Parse(Id[(Id.LastIndexOf('`') + 1)..]) : 0;
    public string SimpleName => (DeclaringType == null ? Id[(Id.LastIndexOf('.') + 1)..] : Id[(DeclaringType.Length + 1)..]).Split('`')[0];
    public string Namespace => DeclaringType == null ? (Id.Contains('.') ? Id[..Id.LastIndexOf('.')] : "") : "";
}

/// <summary>A member from the listings.</summary>
public sealed class ListedMember
{
    public required char Kind { get; init; }          // M, P, F, E
    public required string Name { get; init; }
    public required List<string> Parameters { get; init; } // listing type names; "@" suffix for by-ref
    public List<string> ParameterNames { get; init; } = new();
    public string? ReturnType { get; set; }           // methods, properties, fields, events
    public string? ConversionTarget { get; init; }    // op_Implicit/op_Explicit "~T"
    public bool IsStatic { get; set; }
    public bool IsVirtual { get; set; }
    public bool IsAbstract { get; set; }
    public bool IsProtected { get; set; }
    public bool IsConst { get; set; }
    public string? ConstValue { get; set; }
    public bool HasGet { get; set; }
    public bool HasSet { get; set; }
    public string Signature => Name + "(" + string.Join(",", Parameters) + ")";
}

/// <summary>
/// The nanoFramework public API as listed in ../shared/nanoframework-api (XML documentation IDs plus the facts the
/// IDs do not carry), with each assembly's NuGet package id from SOURCES.txt.
/// </summary>
public sealed class ApiListing
{
    public Dictionary<string, ListedType> Types { get; } = new(StringComparer.Ordinal);
    public HashSet<string> DocumentationIds { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> PackageOfAssembly { get; } = new(StringComparer.Ordinal);

    public static ApiListing Load(string directory)
    {
        var listing = new ApiListing();
        foreach (Match m in Regex.Matches(File.ReadAllText(Path.Combine(directory, "SOURCES.txt")), @"^#\s+(\S+)\s+(?:\([^)]*\)\s+)?((?:nanoFramework|UnitsNet)\.[A-Za-z0-9.]+)", RegexOptions.Multiline))
        {
            listing.PackageOfAssembly[m.Groups[1].Value] = m.Groups[2].Value;
        }

        var memberLines = new List<(string Assembly, string Id, string Info)>();
        foreach (string file in Directory.GetFiles(directory, "*.txt").Where(f => Path.GetFileName(f) != "SOURCES.txt").OrderBy(f => f, StringComparer.Ordinal))
        {
            string assembly = Path.GetFileNameWithoutExtension(file);
            foreach (string line in File.ReadLines(file))
            {
                int tab = line.IndexOf('\t');
                if (tab < 0)
                {
                    continue;
                }

                string id = line[..tab];
                string info = line[(tab + 1)..];
                listing.DocumentationIds.Add(id);
                if (id.StartsWith("T:", StringComparison.Ordinal))
                {
                    listing.AddType(assembly, id[2..], info);
                }
                else
                {
                    memberLines.Add((assembly, id, info));
                }
            }
        }

        foreach (ListedType t in listing.Types.Values)
        {
            int dot = t.Id.LastIndexOf('.');
            while (dot > 0)
            {
                string prefix = t.Id[..dot];
                if (listing.Types.ContainsKey(prefix))
                {
                    t.DeclaringType = prefix;
                    break;
                }

                dot = prefix.LastIndexOf('.');
            }
        }

        foreach ((string _, string id, string info) in memberLines)
        {
            listing.AddMember(id, info);
        }

        return listing;
    }

    private void AddType(string assembly, string id, string info)
    {
        string[] parts = info.Split(" : ", 2);
        string[] head = parts[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string kind = head[0];
        string? baseType = null;
        var interfaces = new List<string>();
        string rest = parts.Length > 1 ? parts[1] : (info.Contains(" , ") ? info[(info.IndexOf(" , ", StringComparison.Ordinal) + 1)..] : "");
        if (kind == "class" && parts.Length > 1)
        {
            string[] bi = rest.Split(" , ", 2);
            baseType = bi[0].Trim();
            if (bi.Length > 1)
            {
                interfaces.AddRange(bi[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
            }
        }
        else if (rest.Length > 0)
        {
            string list = rest.TrimStart(',', ' ');
            if (kind == "enum")
            {
                baseType = list.Trim();
            }
            else
            {
                interfaces.AddRange(list.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(s => s != ","));
            }
        }

        var t = new ListedType
        {
            Id = id, Assembly = assembly, Kind = kind, Base = baseType,
            IsStatic = head.Contains("static"), IsAbstract = head.Contains("abstract"), IsSealed = head.Contains("sealed"),
        };
        t.Interfaces.AddRange(interfaces);
        Types.TryAdd(id, t);
    }

    private void AddMember(string id, string info)
    {
        char kind = id[0];
        string body = id[2..];
        string? conversion = null;
        int tilde = body.IndexOf('~');
        if (tilde >= 0)
        {
            conversion = body[(tilde + 1)..];
            body = body[..tilde];
        }

        var parameters = new List<string>();
        int paren = body.IndexOf('(');
        if (paren >= 0)
        {
            parameters = SplitParameters(body[(paren + 1)..^1]);
            body = body[..paren];
        }

        int dot = body.LastIndexOf('.');
        string typeId = body[..dot];
        string name = body[(dot + 1)..];
        if (!Types.TryGetValue(typeId, out ListedType? type))
        {
            return;
        }

        var member = new ListedMember { Kind = kind, Name = name, Parameters = parameters, ConversionTarget = conversion };
        string[] sides = info.Split(" ; params ", 2);
        if (sides.Length > 1)
        {
            member.ParameterNames.AddRange(sides[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }

        string desc = sides[0];
        string[] words = desc.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        member.IsStatic = words.Contains("static");
        member.IsVirtual = words.Contains("virtual");
        member.IsAbstract = words.Contains("abstract");
        member.IsProtected = words.Contains("protected");
        switch (kind)
        {
            case 'M':
                int r = Array.IndexOf(words, "returns");
                member.ReturnType = r >= 0 ? words[r + 1] : null;
                break;
            case 'P':
                member.HasGet = desc.Contains("get;");
                member.HasSet = desc.Contains("set;");
                member.ReturnType = words.First(w => w is not ("static" or "virtual" or "abstract" or "protected"));
                break;
            case 'F':
                if (desc.StartsWith("const ", StringComparison.Ordinal))
                {
                    member.IsConst = true;
                    int eq = desc.IndexOf(" = ", StringComparison.Ordinal);
                    member.ReturnType = desc[6..eq];
                    member.ConstValue = desc[(eq + 3)..];
                }
                else
                {
                    member.ReturnType = words.First(w => w is not ("static" or "readonly" or "protected"));
                }

                break;
            case 'E':
                member.ReturnType = words.First(w => w is not ("static" or "virtual" or "abstract" or "protected"));
                break;
        }

        type.Members.Add(member);
    }

    private static List<string> SplitParameters(string s)
    {
        var result = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] is '[' or '{')
            {
                depth++;
            }
            else if (s[i] is ']' or '}')
            {
                depth--;
            }
            else if (s[i] == ',' && depth == 0)
            {
                result.Add(s[start..i]);
                start = i + 1;
            }
        }

        if (s.Length > 0)
        {
            result.Add(s[start..]);
        }

        return result;
    }
}
