// skimwatch's own YARA rules for the skimmer families in docs/intel.md. Apache-2.0, as
// skimwatch. They run (yara-x) over every new or altered script; a match is a hint on the
// script's finding that raises its severity and names the rule. They are deliberately
// narrow: each needs two or three traits together that checkout code seldom combines.

rule card_fields_and_exfiltration
{
    meta:
        description = "reads card fields by name and sends data through an image, beacon or socket, encoded"
        family = "form-grabber (British Airways, Newegg style)"
    strings:
        $f1 = "cc-number" nocase
        $f2 = "cardnumber" nocase
        $f3 = "card_number" nocase
        $f4 = "cc_number" nocase
        $f5 = "cvv" nocase
        $f6 = "cvc" nocase
        $f7 = "cc-exp" nocase
        $x1 = "new Image"
        $x2 = "sendBeacon"
        $x3 = "WebSocket("
        $x4 = /\.src\s*=\s*[A-Za-z_$"'`]/
        $e1 = "btoa("
        $e2 = "JSON.stringify"
        $e3 = "encodeURIComponent"
    condition:
        2 of ($f*) and any of ($x*) and any of ($e*)
}

rule base64_loader
{
    meta:
        description = "runs code decoded from base64 (eval/Function/setTimeout over atob), or injects a script built from it"
        family = "loader"
    strings:
        $run = /(eval|Function|setTimeout|setInterval)\s*\(\s*(window\.|self\.)?atob\s*\(/
        $inject1 = /createElement\s*\(\s*["']script["']\s*\)/
        $inject2 = /\.(src|text|innerHTML)\s*=\s*(window\.)?atob\s*\(/
    condition:
        $run or ($inject1 and $inject2)
}

rule luhn_check_then_send
{
    meta:
        description = "a Luhn check of the card number next to a network send"
        family = "skimmers that validate the number before sending it"
    strings:
        $mod = /%\s*10\s*[!=]==?\s*0/
        $dbl = /(\*\s*=?\s*2|<<\s*1)/
        $nine = /(-=?\s*9\b|>\s*9\b)/
        $s1 = "sendBeacon"
        $s2 = "XMLHttpRequest"
        $s3 = "fetch("
        $s4 = "new Image"
        $s5 = "WebSocket("
    condition:
        $mod and $dbl and $nine and any of ($s*)
}
