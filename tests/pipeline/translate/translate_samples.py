"""Sentences and dictionaries shared by the translate tests (the dictionary models are built
in conftest.py)."""

# Real sentences from seeds/004 (IDN Times), and a few written for the items seed 004 lacks
# (a rupiah amount, a URL, an e-mail address) in the same style.
SEED_004_SENTENCES = [
    "Jakarta, IDN Times - Presiden Rusia Vladimir Putin bertemu dengan Menteri Luar Negeri "
    "Korea Utara Choe Son Hui di Istana Kremlin, Selasa (27/10/2025).",
    "Dalam pertemuan itu, Putin menyatakan bahwa hubungan antara Rusia dan Korea Utara berkembang sesuai rencana.",
    "28 Okt 2025, 21:45 WIB",
]
WRITTEN_SENTENCES = [
    "Harga tiket naik menjadi Rp 2,1 juta, kata juru bicara kepada wartawan.",
    "Baca selengkapnya di https://www.idntimes.com/news/world/putin-bertemu-choe-00-abc123 "
    "atau kirim surel ke redaksi@idntimes.com.",
]
ID_EN = {
    "presiden": "president", "rusia": "russia", "bertemu": "met", "dengan": "with", "menteri": "minister",
    "luar": "foreign", "negeri": "affairs", "utara": "north", "di": "at", "istana": "palace",
    "selasa": "tuesday", "dalam": "in", "pertemuan": "meeting", "itu": "that", "menyatakan": "stated",
    "bahwa": "that", "hubungan": "relations", "antara": "between", "dan": "and", "berkembang": "developed",
    "sesuai": "according", "rencana": "plan", "okt": "oct", "harga": "price", "tiket": "ticket",
    "naik": "rose", "menjadi": "to", "juta": "million", "kata": "said", "juru": "the",
    "bicara": "spokesperson", "kepada": "to", "wartawan": "reporters", "baca": "read",
    "selengkapnya": "more", "atau": "or", "kirim": "send", "surel": "email", "ke": "to",
    "pemerintah": "government", "kemarin": "yesterday",
}
# The same model with faults a real one can have: digits garbled, a URL "translated".
GARBLED = {"0": "8", "1": "7", "2": "5", "5": "3", "7": "1", "https": "http", "idntimes": "times"}
# Malay -> Indonesian, for pivoting (ms -> id -> en).
MS_ID = {"kerajaan": "pemerintah", "semalam": "kemarin", "berjumpa": "bertemu"}
MS_SENTENCE = "Kerajaan Rusia berjumpa dengan Presiden Korea Utara semalam."
# Russian -> English, with a model that transliterates a Latin-script name badly.
RU_EN = {"президент": "president", "россии": "russia", "встретился": "met", "с": "with", "в": "in",
         "кремле": "kremlin", "октября": "october", "Trump": "Tramp"}
RU_SENTENCE = "Президент России встретился с Donald Trump в Кремле 27 октября."
DICTIONARY_CORPUS = SEED_004_SENTENCES + WRITTEN_SENTENCES + [MS_SENTENCE, RU_SENTENCE]
