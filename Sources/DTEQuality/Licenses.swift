import Foundation

/// Recognises a licence from its SPDX identifier or its text, and knows which identifiers the
/// Open Source Initiative approved (QC.Lic02).
public enum LicenseCatalog {
    /// SPDX identifiers of OSI-approved licences (with the `-only`/`-or-later` forms SPDX uses).
    public static let osiApproved: Set<String> = [
        "0BSD", "AFL-3.0", "AGPL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-2.0", "APSL-2.0",
        "Artistic-2.0", "BlueOak-1.0.0", "BSD-1-Clause", "BSD-2-Clause", "BSD-2-Clause-Patent", "BSD-3-Clause",
        "BSL-1.0", "CDDL-1.0", "CECILL-2.1", "CERN-OHL-P-2.0", "CERN-OHL-S-2.0", "CERN-OHL-W-2.0", "ECL-2.0",
        "EFL-2.0", "EPL-1.0", "EPL-2.0", "EUPL-1.1", "EUPL-1.2", "GPL-2.0", "GPL-2.0-only", "GPL-2.0-or-later",
        "GPL-3.0", "GPL-3.0-only", "GPL-3.0-or-later", "ISC", "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.1",
        "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0", "LGPL-3.0-only", "LGPL-3.0-or-later", "LPPL-1.3c",
        "MIT", "MIT-0", "MPL-1.1", "MPL-2.0", "MPL-2.0-no-copyleft-exception", "MS-PL", "MS-RL", "MulanPSL-2.0",
        "NCSA", "OFL-1.1", "OSL-3.0", "PostgreSQL", "Python-2.0", "UPL-1.0", "Unlicense", "Zlib",
    ]

    /// Well-known licences that are not OSI-approved software licences, so the report can name them.
    static let knownOther: Set<String> = ["CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "CC0-1.0", "BUSL-1.1", "SSPL-1.0"]

    /// Phrases (lower case, single spaces) that identify a licence text; every phrase must occur.
    /// Checked in order: more specific texts first.
    static let fingerprints: [(id: String, all: [String], none: [String])] = [
        ("AGPL-3.0", ["gnu affero general public license", "version 3"], []),
        ("LGPL-3.0", ["gnu lesser general public license", "version 3"], []),
        ("LGPL-2.1", ["gnu lesser general public license", "version 2.1"], []),
        ("GPL-3.0", ["gnu general public license", "version 3, 29 june 2007"], []),
        ("GPL-2.0", ["gnu general public license", "version 2, june 1991"], []),
        ("Apache-2.0", ["apache license", "version 2.0"], []),
        ("MPL-2.0", ["mozilla public license", "2.0"], []),
        ("EPL-2.0", ["eclipse public license", "2.0"], []),
        ("EUPL-1.2", ["european union public licence", "1.2"], []),
        ("BSL-1.0", ["boost software license", "version 1.0"], []),
        ("Unlicense", ["free and unencumbered software released into the public domain"], []),
        ("ISC", ["permission to use, copy, modify, and/or distribute this software for any purpose"], []),
        ("MIT", ["permission is hereby granted, free of charge, to any person obtaining a copy",
                 "the above copyright notice and this permission notice shall be included"], []),
        ("BSD-3-Clause", ["redistribution and use in source and binary forms", "neither the name of"], []),
        ("BSD-2-Clause", ["redistribution and use in source and binary forms", "this list of conditions"], ["neither the name of"]),
        ("Zlib", ["provided 'as-is', without any express or implied warranty", "altered source versions must be plainly marked"], []),
        ("CC-BY-4.0", ["creative commons attribution 4.0 international"], []),
    ]

    /// What a licence file says: the SPDX id recognised (nil: not recognised) and how.
    public struct Recognition: Sendable, Equatable {
        public var id: String?
        /// `SPDX-License-Identifier` line, or `licence text`.
        public var how: String
        public var osiApproved: Bool
    }

    /// Recognises the licence in (the beginning of) a licence file.
    public static func recognise(_ bytes: [UInt8]) -> Recognition {
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(whereSeparator: \.isNewline).prefix(50) {
            guard let r = line.range(of: "SPDX-License-Identifier:") else { continue }
            let expression = line[r.upperBound...].trimmingCharacters(in: .whitespaces)
            return Recognition(id: expression, how: "SPDX-License-Identifier line", osiApproved: isOSIApproved(expression: expression))
        }
        let normalised = normalise(text)
        for f in fingerprints where f.all.allSatisfy({ normalised.contains($0) }) && !f.none.contains(where: { normalised.contains($0) }) {
            return Recognition(id: f.id, how: "licence text", osiApproved: osiApproved.contains(f.id))
        }
        return Recognition(id: nil, how: "licence text", osiApproved: false)
    }

    /// Whether an SPDX expression names OSI-approved licences: with `AND` all of them, with `OR`
    /// (the user chooses) at least one. `WITH` exceptions are ignored.
    public static func isOSIApproved(expression: String) -> Bool {
        let cleaned = expression.replacingOccurrences(of: "(", with: " ").replacingOccurrences(of: ")", with: " ")
        let words = cleaned.split(separator: " ").map(String.init)
        var ids: [String] = []
        var conjunction = false
        var skipNext = false
        for w in words {
            if skipNext { skipNext = false; continue }
            switch w.uppercased() {
            case "AND": conjunction = true
            case "OR": break
            case "WITH": skipNext = true
            default: ids.append(w.hasSuffix("+") ? String(w.dropLast()) + "-or-later" : w)
            }
        }
        guard !ids.isEmpty else { return false }
        return conjunction ? ids.allSatisfy(osiApproved.contains) : ids.contains(where: osiApproved.contains)
    }

    /// Lower case, typographic quotes made plain, runs of white space (and comment markers) as one space.
    static func normalise(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var space = false
        for ch in text.lowercased() {
            let c: Character
            switch ch {
            case "\u{2018}", "\u{2019}": c = "'"
            case "\u{201C}", "\u{201D}": c = "\""
            default: c = ch
            }
            if c.isWhitespace || c == "#" || c == "*" {
                if !space && !out.isEmpty { out.append(" ") }
                space = true
            } else {
                out.append(c)
                space = false
            }
        }
        return out
    }
}
