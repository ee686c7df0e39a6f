"""Small multilingual word lists used as evidence by the text-dump cleaner.

Stopwords say "this is running prose"; navigation words say "this is page chrome".
Neither decides alone: they are weighed with length, punctuation and position.
Languages: en, id, ms, es, fr, de, pt, it, nl (plus a few words of others).
"""

from __future__ import annotations

import re

_STOPWORDS = """
the a an and or but of to in on at for with by from as is are was were be been being it its
this that these those he she they we you i his her their our your my me him them us who whom
which what when where why how not no nor so than then there here have has had do does did will
would shall should can could may might must also just only into over after before about between
under while during since until because if whether all any each both more most other some such
very out up down off again further once same own too s t
yang dan di ke dari ini itu dengan untuk pada adalah dalam tidak akan juga atau oleh karena
sebagai bahwa telah sudah bisa dapat ada saat agar para lebih tersebut mereka kami kita ia dia
saya anda namun tetapi serta hingga sejak masih belum harus jika bila kepada antara secara sangat
lagi hanya pun nya sebuah seorang setelah sebelum tak bagi menurut yakni yaitu akan telah
ialah iaitu kerana tetapi boleh beliau mereka daripada dalam pada sahaja
el la los las un una unos unas y o de del al en con por para que se su sus es son fue era
como pero más mas sin sobre entre también ya le lo les muy hasta desde cuando donde porque
este esta estos estas ese esa eso ha han había ser está están no sí ni nos
le la les un une des et ou de du au aux en dans par pour que qui se sa son ses est sont était
comme mais plus sans sur entre aussi déjà lui leur leurs très jusqu depuis quand où parce ce
cette ces il elle ils elles nous vous ne pas a ont été être avec d l qu n s
der die das den dem des ein eine einen einem einer und oder von zu im in an auf mit für aus
bei nach über unter ist sind war waren wird werden wurde hat haben hatte sich sie er es wir
ihr nicht kein keine auch noch schon nur wie als wenn dass weil aber doch so am vom zum zur
o a os as um uma uns umas e ou de do da dos das em no na nos nas com por para que se seu sua
seus suas é são foi era como mas mais sem sobre entre também já lhe muito até desde quando onde
porque este esta isso ele ela eles elas não ao aos pelo pela pelos pelas
il lo la i gli le un uno una e o di del della dei delle da dal dalla in nel nella con su per
che si suo sua è sono era come ma più senza tra fra anche già gli molto fino quando dove perché
questo questa non ha hanno essere
de het een en of van in op te met voor door aan uit bij naar over onder is zijn was waren wordt
worden werd heeft hebben had zich ze hij zij wij het niet geen ook nog al maar als dat die dit
deze er om tot
"""

_NAVIGATION_WORDS = """
home homepage menu search share shares shared sharing follow following subscribe subscription
subscriptions subscriber login logout log sign signin signup register registration account
newsletter newsletters cookie cookies privacy policy terms conditions copyright rights reserved
contact contacts about advertise advertisement advertising ads ad sponsored sponsor related latest
popular trending recommended recommend more read next previous prev back top comments comment
reply replies post posts posted tags tag topics topic categories category archive archives sitemap
rss feed feeds print email e-mail mail facebook twitter instagram youtube linkedin whatsapp
telegram pinterest tiktok reddit line copy link links download app apps picks pick editor's
editors editorial team staff gallery galleries watch skip navigation toggle close view views see
show load click here page pages faq help careers jobs press edition settings notification
notifications premium podcast podcasts more... leave enter please required fields field submit
send cancel website password username name your us contact-us viewed shared most top-stories
photos photo videos video images image live breaking headlines news updates update
beranda bagikan ikuti berlangganan masuk daftar keluar kebijakan privasi syarat ketentuan hak
cipta kontak hubungi tentang iklan terkait terbaru terpopuler populer rekomendasi baca
selengkapnya lainnya artikel berita komentar tulis balas topik kategori arsip unduh aplikasi
lihat semua tampilkan halaman redaksi pedoman siber karir galeri indeks kirim salin tautan
kongsi langgan terkini berkaitan laman utama pilihan editor
inicio portada menú buscar compartir seguir síguenos suscríbete suscribirse iniciar sesión
registrarse registro boletín privacidad política términos condiciones aviso legal contacto
contáctenos publicidad relacionado relacionados relacionadas últimas noticias leídos vistos leer
ver comentarios comentar responder etiquetas temas categorías archivo hemeroteca descargar
aplicación anterior siguiente página fotos vídeos galería derechos reservados
accueil rechercher recherche partager suivre suivez-nous abonnez-vous abonner abonnement
connexion inscription confidentialité politique mentions légales contactez-nous publicité liés
associés dernières actualités lire voir commentaires commenter répondre mots-clés thèmes
catégories télécharger application précédent suivant vidéos droits réservés
startseite suche suchen teilen folgen abonnieren abo anmelden registrieren datenschutz
datenschutzerklärung impressum agb nutzungsbedingungen kontakt werbung anzeige verwandte ähnliche
neueste meistgelesen mehr weiterlesen kommentare kommentieren antworten schlagwörter themen
kategorien archiv herunterladen zurück weiter seite bilder galerie rechte vorbehalten
início inicial pesquisar compartilhar partilhar siga-nos assine assinar inscreva-se entrar
cadastre-se privacidade termos contato publicidade notícias lidas leia ver comentários
categorias arquivo baixar aplicativo próximo direitos
cerca condividi segui seguici iscriviti abbonati accedi registrati termini condizioni contatti
pubblicità correlati articoli ultime notizie letti leggi vedi commenti commenta rispondi argomenti
categorie archivio scarica precedente successivo pagina diritti riservati
zoeken delen volg volgen abonneer abonneren inloggen registreren nieuwsbrief voorwaarden
adverteren advertentie gerelateerd gerelateerde artikelen laatste nieuws lees bekijk reacties
reageer reageren onderwerpen categorieën archief downloaden vorige volgende rechten voorbehouden
"""

STOPWORDS = frozenset(_STOPWORDS.split())
NAVIGATION_WORDS = frozenset(_NAVIGATION_WORDS.split())

# Lines that introduce a list of other articles or the comment section. After the body has
# started, such a heading usually ends the article.
SECTION_BREAK = re.compile(
    r"^(?:"
    r"(?:related|recommended|more|latest|popular|trending|most \w+)\b.{0,30}"
    r"|(?:read|see|watch) (?:also|more|next)\b.{0,30}"
    r"|you (?:may|might) (?:also )?(?:like|be interested).{0,20}|relacionad[oa]s?|terkait|related"
    r"|(?:berita|artikel) (?:terkait|lainnya|terbaru|terpopuler|pilihan)\b.{0,30}"
    r"|baca (?:juga|selengkapnya)\b.{0,30}|(?:lihat|simak) juga\b.{0,30}"
    r"|(?:noticias|artículos|notas) (?:relacionad[oa]s|recomendad[oa]s)\b.{0,20}|lo más \w+.{0,20}"
    r"|te puede interesar.{0,20}"
    r"|(?:à )?lire aussi\b.{0,30}|sur le même sujet.{0,20}"
    r"|(?:articles?|actualités) (?:liés|associés|similaires)\b.{0,20}"
    r"|(?:mehr|weitere) (?:zum thema|artikel|nachrichten)\b.{0,20}|lesen sie auch\b.{0,30}"
    r"|das könnte sie (?:auch )?interessieren.{0,20}"
    r"|(?:leia|veja) (?:também|mais)\b.{0,30}|(?:notícias|matérias) relacionadas.{0,20}"
    r"|(?:leggi|vedi) anche\b.{0,30}|articoli correlati.{0,20}"
    r"|lees (?:ook|meer)\b.{0,30}|gerelateerde? (?:artikelen|berichten|nieuws).{0,20}"
    r")$",
    re.IGNORECASE,
)

# Headings of a comment section: comments always follow the article, so nothing after one is kept.
COMMENTS_BREAK = re.compile(
    r"^(?:(?:view|show|read|see|load|hide|ver|mostrar|voir|afficher|lihat|tampilkan)\s+(?:all\s+|the\s+|todos los\s+|les\s+|semua\s+)?)?"
    r"(?:\d+\s+)?(?:comments?|replies|responses|discussion|leave a (?:reply|comment)|add (?:a )?comment"
    r"|post a comment|join the (?:conversation|discussion)|komentar|tulis komentar|beri komentar"
    r"|comentarios?|comentar|deja (?:un|tu) comentario|commentaires?|laisser un commentaire|réagir"
    r"|kommentare?|kommentieren|leserkommentare|comentários?|deixe (?:um|seu) comentário|commenti|commenta"
    r"|lascia un commento|reacties?|reageer|plaats een reactie)(?:\s*\(\d+\))?$",
    re.IGNORECASE,
)

# Prefixes of a line that points to another article, a credit or a widget, in several languages.
TEASER_PREFIX = re.compile(
    r"^(?:read (?:also|more|next)|see also|also read|related|watch|listen|advertisement|sponsored"
    r"|baca (?:juga|selengkapnya)|lihat (?:juga|selengkapnya)|simak (?:juga)?|tonton(?: juga)?"
    r"|lee (?:también|más)|ver (?:también|más)|publicidad|(?:à )?lire aussi|voir aussi|publicité"
    r"|lesen sie (?:auch|mehr)|mehr zum thema|anzeige|werbung|leia (?:também|mais)|veja (?:também|mais)"
    r"|leggi anche|vedi anche|pubblicità|lees ook|zie ook|advertentie"
    r"|photo|foto|image|picture|credit|caption|disclaimer|source|sumber|fuente|quelle|fonte|bron"
    r"|tags?|topics?|keywords?|etiquetas|temas|schlagwörter|mots-clés|argomenti|categor\w+|kategori"
    r"|editor|penyunting|redaktur|reporter|pewarta|penulis|writer|author|autor|auteur|autore|follow)"
    r"\s*[:|\-–—»›>]",
    re.IGNORECASE,
)

COPYRIGHT = re.compile(
    r"©|\(c\)\s*\d{4}|\bcopyright\b|all rights reserved|hak cipta|derechos reservados"
    r"|droits réservés|rechte vorbehalten|direitos reservados|diritti riservati|rechten voorbehouden",
    re.IGNORECASE,
)

# Boilerplate that is written as full sentences: consent banners, comment-form notes, promos.
PROSE_BOILERPLATE = re.compile(
    r"\bcookies?\b.{0,80}\b(?:use|accept|consent|browsing|experience|settings|policy)"
    r"|\b(?:use|accept|consent)\b.{0,60}\bcookies?\b"
    r"|your (?:e-?mail|email address) will not be published|required fields are marked"
    r"|comments are (?:closed|moderated)|(?:enter|write|leave|post) (?:a |your )?(?:comment|reply)"
    r"|(?:sign up|subscribe) (?:for|to) (?:our|the) (?:\w+ )?newsletter"
    r"|summary was (?:created|generated)|generated (?:by|using|with) (?:ai|artificial intelligence)"
    r"|download (?:the|our) (?:\w+ )?app|\bdi \w+ app\b|(?:javascript|js) (?:is )?(?:disabled|required)"
    r"|enable javascript|your browser does not support|click here to",
    re.IGNORECASE,
)
