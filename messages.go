package pmgsync

import (
	"fmt"
	"strconv"
	"strings"
)

// Lang is a language of user-facing text. pt-BR is the default: the
// technicians and the back office speak Portuguese.
type Lang string

// The languages with a catalog.
const (
	PortugueseBR Lang = "pt-BR"
	English      Lang = "en"
)

func (l Lang) String() string { return string(l) }

// ParseAcceptLanguage picks the language for an HTTP Accept-Language header:
// the first listed language we have, by quality; pt-BR when none matches.
func ParseAcceptLanguage(header string) Lang {
	best, bestQ := PortugueseBR, -1.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			var err error
			if q, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
				continue
			}
		}
		if q <= 0 {
			continue // q=0 means "not acceptable"
		}
		var lang Lang
		switch primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-"); primary {
		case "pt":
			lang = PortugueseBR
		case "en":
			lang = English
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = lang, q
		}
	}
	return best
}

// Message keys. Each key has an entry in catalog for every language.
const (
	MsgInternal         = "internal"
	MsgInternalWithID   = "internal_with_id"
	MsgBadToken         = "bad_token"
	MsgMethodNotAllowed = "method_not_allowed"
	MsgNotFoundRoute    = "not_found_route"
	MsgNoFiles          = "no_files"
	MsgFileNotFound     = "file_not_found"
	MsgFileExists       = "file_exists"
	MsgMissingFilename  = "missing_filename"
	MsgMissingFilePart  = "missing_file_part"
	MsgBadMultipart     = "bad_multipart"
	MsgNameEmpty        = "name_empty"
	MsgNameDots         = "name_dots"
	MsgNameControl      = "name_control"
	MsgNameUTF8         = "name_utf8"
	MsgNameTooLong      = "name_too_long"
	MsgUploadAborted    = "upload_aborted"
	MsgTechnicianExists = "technician_exists"
	MsgTechnicianName   = "technician_name"
	MsgNoTechnician     = "no_technician"
	MsgTechnicianOff    = "technician_disabled"
	MsgTokenExists      = "token_exists"
	MsgNoToken          = "no_token"
	MsgTokenExpiry      = "token_expiry"
	MsgTooLarge         = "too_large"
	MsgEmptyFile        = "empty_file"
	MsgTypeNotAllowed   = "type_not_allowed"
	MsgTypeMismatch     = "type_mismatch"
	MsgQuotaBytes       = "quota_bytes"
	MsgQuotaFiles       = "quota_files"
	MsgDiskFull         = "disk_full"
	MsgCleanupRunning   = "cleanup_running"

	// Abuse limits (brute-force throttling, rate limits, uploads at once).
	MsgAuthBanned     = "auth_banned"
	MsgRateLimited    = "rate_limited"
	MsgTooManyUploads = "too_many_uploads"

	// Token rotation (pmgsync token rotate).
	MsgTokenRevoked = "token_revoked"
	MsgTokenExpired = "token_expired"
	MsgTokenGrace   = "token_grace"
)

// Integrity check (pmgsync verify): a file marked damaged is refused to
// downloads with this message, which tells the technician what to do.
const (
	MsgFileDamaged = "file_damaged"

	// Browser and slow-client protection.
	MsgOriginNotAllowed = "origin_not_allowed"
	MsgCrossOrigin      = "cross_origin_refused"
	MsgUploadStalled    = "upload_stalled"

	// HTTPS: the plain-HTTP listener that redirects to HTTPS.
	MsgUseHTTPS = "use_https"
)

// catalog holds every user-facing message: [English, pt-BR] format strings
// for fmt.Sprintf. It is never modified.
var catalog = map[string][2]string{
	MsgInternal:         {"internal server error", "erro interno do servidor"},
	MsgInternalWithID:   {"internal server error (request id %s)", "erro interno do servidor (id da requisição %s)"},
	MsgBadToken:         {"Invalid token", "Token inválido"},
	MsgMethodNotAllowed: {"Method Not Allowed", "Método não permitido"},
	MsgNotFoundRoute:    {"Not Found", "Não encontrado"},
	MsgNoFiles:          {"No files found", "Nenhum arquivo encontrado"},
	MsgFileNotFound:     {"File not found", "Arquivo não encontrado"},
	MsgFileExists:       {"a file named %q already exists", "já existe um arquivo chamado %q"},
	MsgMissingFilename:  {"the filename parameter is required", "o parâmetro filename é obrigatório"},
	MsgMissingFilePart:  {"the upload must be multipart/form-data with a field named file", "o envio deve ser multipart/form-data com um campo chamado file"},
	MsgBadMultipart:     {"malformed multipart body", "corpo multipart inválido"},
	MsgNameEmpty:        {"the file name is empty", "o nome do arquivo está vazio"},
	MsgNameDots:         {"the file name cannot be %q", "o nome do arquivo não pode ser %q"},
	MsgNameControl:      {"the file name contains a control character", "o nome do arquivo contém um caractere de controle"},
	MsgNameUTF8:         {"the file name is not valid UTF-8", "o nome do arquivo não é UTF-8 válido"},
	MsgNameTooLong:      {"the file name has %d bytes; the limit is %d", "o nome do arquivo tem %d bytes; o limite é %d"},
	MsgUploadAborted:    {"the upload was interrupted before it completed", "o envio foi interrompido antes de terminar"},
	MsgTechnicianExists: {"technician %q already exists", "o técnico %q já existe"},
	MsgTechnicianName:   {"invalid technician name %q: use 1 to 64 letters, digits, spaces, '.', '_', '-' or '@'", "nome de técnico inválido %q: use de 1 a 64 letras, dígitos, espaços, '.', '_', '-' ou '@'"},
	MsgNoTechnician:     {"no technician named %q", "nenhum técnico chamado %q"},
	MsgTechnicianOff:    {"technician %q is disabled", "o técnico %q está desativado"},
	MsgTokenExists:      {"that token already exists", "esse token já existe"},
	MsgNoToken:          {"no such token", "token não encontrado"},
	MsgTokenExpiry:      {"invalid expiry %q: use a duration such as 90d, 12h or 30m", "validade inválida %q: use uma duração como 90d, 12h ou 30m"},
	MsgTooLarge:         {"the file is larger than the limit of %s", "o arquivo é maior que o limite de %s"},
	MsgEmptyFile:        {"the file is empty", "o arquivo está vazio"},
	MsgTypeNotAllowed:   {"files of type %q are not accepted; allowed types: %s", "arquivos do tipo %q não são aceitos; tipos permitidos: %s"},
	MsgTypeMismatch:     {"the content of the file is not a valid %s file; allowed types: %s", "o conteúdo do arquivo não é um arquivo %s válido; tipos permitidos: %s"},
	MsgQuotaBytes:       {"storage quota exceeded: the limit is %s per technician", "cota de armazenamento excedida: o limite é de %s por técnico"},
	MsgQuotaFiles:       {"file quota exceeded: the limit is %d files per technician", "cota de arquivos excedida: o limite é de %d arquivos por técnico"},
	MsgCleanupRunning:   {"a cleanup is already running (started by %s); try again when it ends", "uma limpeza já está em andamento (iniciada por %s); tente novamente quando terminar"},
	MsgDiskFull:         {"the server is low on disk space; try again later", "o servidor está com pouco espaço em disco; tente novamente mais tarde"},

	// Abuse limits.
	MsgAuthBanned:     {"too many attempts with an invalid token from this address; try again in %s", "tentativas demais com token inválido a partir deste endereço; tente novamente em %s"},
	MsgRateLimited:    {"too many requests; try again in %s", "requisições demais; tente novamente em %s"},
	MsgTooManyUploads: {"too many uploads in progress at once (the limit is %d); try again when one of them ends", "envios simultâneos demais (o limite é %d); tente novamente quando um deles terminar"},

	// Token rotation (pmgsync token rotate).
	MsgTokenRevoked: {"token #%d is revoked and cannot be rotated; issue a new one with \"pmgsync token create\"", "o token #%d está revogado e não pode ser substituído; emita um novo com \"pmgsync token create\""},
	MsgTokenExpired: {"token #%d has expired and cannot be rotated; issue a new one with \"pmgsync token create\"", "o token #%d expirou e não pode ser substituído; emita um novo com \"pmgsync token create\""},
	MsgTokenGrace:   {"invalid grace %q: use 0 or a duration such as 7d, 12h or 30m", "carência inválida %q: use 0 ou uma duração como 7d, 12h ou 30m"},

	// Integrity check (pmgsync verify).
	MsgFileDamaged: {"the file %q is damaged on the server and must be sent again", "o arquivo %q está danificado no servidor e precisa ser enviado novamente"},

	// Browser and slow-client protection.
	MsgOriginNotAllowed: {"this web origin may not call the API", "esta origem web não tem permissão para usar a API"},
	MsgCrossOrigin:      {"cross-origin request refused", "requisição de outra origem recusada"},
	MsgUploadStalled:    {"the upload stopped sending data and was cut off; try again", "o envio parou de mandar dados e foi interrompido; tente novamente"},

	// HTTPS: the plain-HTTP listener that redirects to HTTPS.
	MsgUseHTTPS: {"this server answers over HTTPS only: use https:// and the server's name", "este servidor só responde por HTTPS: use https:// e o nome do servidor"},
}

// Translate formats the catalog message key in lang. An unknown key is
// returned as is, so a missing entry shows up in tests rather than as "".
func Translate(lang Lang, key string, args ...any) string {
	entry, ok := catalog[key]
	if !ok {
		return key
	}
	format := entry[1]
	if lang == English {
		format = entry[0]
	}
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
