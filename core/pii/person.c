/* person.c -- the PERSON detectors: Korean and English person names.
 *
 * Korean: a word that starts with a surname (single or double) and continues with a
 * one- or two-syllable given name, counted as a name only where the words around it
 * say so: an honorific or title after it (김민지 님께, 박서준씨, 정우진 과장님), a
 * particle used of people (에게, 께, 한테), a label before it (이름:, 고객명, 예금주),
 * a phone, e-mail or RRN on the same line within 20 characters, or a list that such a
 * name heads or ends (참석자: 김민지, 박서준). A three-syllable name with a common
 * particle and no other cue (최지은은, 서지호의) counts only when both syllables of the
 * given name are usual in names. Words that only look like names (이사회, 정보, 최대,
 * 사용자, the titles themselves) are never names.
 *
 * English: a capitalised given name from the shipped lists (core/pii/data/) and a
 * capitalised surname, with a title before (Mr., Dr.: then the surname alone counts
 * too), a cue before ("my name is", "Dear", "contact", "Name:"), a sign-off line
 * before ("Best regards,⏎"), an identifier nearby, or both words in the lists and
 * neither a place, brand or common word ("John Smith in accounting"; not "Virginia
 * Beach", "Morgan Stanley", "Will do").
 *
 * Every word is looked at once with a bounded window around it: linear. No state
 * after the first call's table set-up (pthread_once); thread-safe. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pii_int.h"

#define NAME_SYLS_MAX	12	/* syllables of a Korean word looked at */
#define NEAR_CHARS	20	/* an identifier this close (characters) is context */

/* ---- Korean word lists ----------------------------------------------------------- */

/* Surnames of one syllable: the common ones (over 99 % of people) and the rarer ones
 * people are named with often enough to be written in prompts. */
static const char kr_surnames[] =
    "김이박최정강조윤장임한오서신권황안송류유전홍고문양손배백허남심노하곽성차주우구"
    "민나진지엄채원천방공현함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국"
    "어은편용예경봉사부가복태목형계피두감음빈동온호범좌팽승간상갈단견당시라리림로";

/* Surnames of two syllables. */
static const char *const kr_double_surnames_words[] = {
	"남궁", "황보", "제갈", "사공", "선우", "서문", "독고", "동방", NULL,
};

/* Syllables usual in given names: a name with no cue but a particle needs both. */
static const char kr_given_syls[] =
    "가강건결겸경계고관광교규균근금기길나남늘다단담대덕도동두라란람랑래려련령로록루류"
    "륜름리린림마만명모무문미민범별병보복봄봉빈빛사산상새샘서석선설섭성세소솔송수숙"
    "순슬승시식신실심아안애양언여연열영예오온옥완용우욱운웅원월위유윤율은을음이익"
    "인일임자재전정제조종주준중지진찬창채천철청초춘충치태택하학한헌혁현형혜호홍화환"
    "효후훈휘희솜";

/* Honorifics and titles after a name, attached or after a space (prefixes: "님께서"
 * starts with "님"). Also the particles used of people. */
static const char *const kr_titles_words[] = {
	"님", "씨", "군", "양", "고객", "회원", "환자", "선생", "교수", "박사", "대표",
	"사장", "회장", "부장", "차장", "과장", "대리", "주임", "사원", "팀장", "실장",
	"본부장", "이사", "상무", "전무", "원장", "원감", "교장", "교감", "변호사",
	"의사", "간호사", "약사", "기자", "작가", "선수", "감독", "코치", "매니저",
	"책임", "선임", "수석", "연구원", "학생", "어르신", "할머니", "할아버지",
	"선배", "후배", "귀하", "담당", "대원", "위원", "의원", "총장", "소장", "국장",
	"센터장", "지점장", "점장", "반장", "조장", "파트장", "그룹장", "주무관",
	"사무관", "경위", "경사", "순경", "병장", "상병", "일병", "이병", "중위",
	"대위", "소령", "중령", "대령", "목사", "신부", "스님", "수녀", "님께", "씨께",
	"선생님", "인턴", "드림", "올림", "배상", "프로", "책임님", "위원장", "조교",
	"강사", "상담사", "치료사", "간호사님", "기사님", "팀원", "수간호사", NULL,
};

/* Titles a name may also follow ("대표이사 성다인", "간호사: 김솔"). */
static const char *const kr_titles_before_words[] = {
	"대표", "대표이사", "사장", "회장", "부장", "차장", "과장", "대리", "주임",
	"사원", "팀장", "실장", "이사", "상무", "전무", "원장", "교수", "선생님",
	"강사", "기자", "작가", "감독", "코치", "선수", "변호사", "의사", "간호사",
	"약사", "매니저", "인턴", "선임", "책임", "수석", "연구원", "상담사", "치료사",
	"위원", "의원", "위원장", "학생", "환자", "동창", "친구", "동료", "동기",
	"후배", "선배", "남편", "아내", "아들", "딸", "엄마", "아빠", "형", "누나",
	"언니", "오빠", "동생", "조카", "손자", "손녀", "사위", "며느리", "원생",
	"신입사원", NULL,
};

/* Labels a name follows. */
static const char *const kr_labels_words[] = {
	"이름", "성명", "성함", "고객명", "회원명", "수신인", "수신자", "수취인",
	"수령인", "받는분", "받는 분", "받는사람", "받는 사람", "보내는분", "보내는 분",
	"보내는사람", "보내는 사람", "발신인", "발신자", "예금주", "담당자", "담당",
	"작성자", "작성", "신청인", "신청자", "보호자", "환자명", "환자", "대표자",
	"대표이사", "대표", "가입자", "계약자", "피보험자", "주문자", "구매자",
	"예약자", "예약자명", "투숙객", "학생명", "학부모", "보증인", "명의자",
	"소유자", "참석자", "참가자", "지원자", "후보자", "상담원", "사원명", "직원명",
	"임차인", "임대인", "채무자", "채권자", "세입자", "입주자", "서명", "수상자",
	"문의자", "답변자", "요청자", "처리자", "승인자", "결재자", "발표자", "진행자",
	"출연자", "당첨자", "합격자", "수강생", "응시자", "피해자", "가해자", "증인",
	"원고", "피고", "신고자", "제보자", "연락담당", "책임자", "관리자", "교육생",
	"훈련생", "고객", "회원", "보낸이", "받는이", "저자", "pm", "name", "full name",
	"fullname", "customer", "recipient", "sender", "owner", "patient", "manager",
	"contact", "author", "assignee", "employee", "holder", "성명란", NULL,
};

/* Particles a name may carry when nothing else follows it in its word. */
static const char *const kr_particles_words[] = {
	"이", "가", "은", "는", "을", "를", "의", "와", "과", "도", "만", "랑", "이랑",
	"하고", "에게", "에게서", "께", "께서", "한테", "한테서", "이가", "이는",
	"이를", "이의", "이도", "이와", "이고", "이며", "이다", "이에요", "이야",
	"이라고", "이라는", "이란", "이래", "입니다", "이었다", "였다", "에요", "예요",
	"라고", "라는", "님", "씨", "처럼", "부터", "까지", "로부터", "으로부터",
	"이고요", "인데", "이지만", "이었습니다", "였습니다", "이었어요", "였어요",
	"이었고", "이라서", "이니까", "이에게", "으로", "으로서", "로서", NULL,
};

/* Particles used of people: a cue by themselves. */
static const char *const kr_person_particles_words[] = {
	"에게", "에게서", "께", "께서", "한테", "한테서", "님", "씨", NULL,
};

/* Words that begin like a name and are none (titles above are none either). */
static const char *const kr_not_names_words[] = {
	"이사회", "이사장", "김치", "김치찌개", "정보", "강남", "강남구", "조회",
	"최대", "한국", "한국어", "한국인", "이번", "이상", "이하", "이후", "이전",
	"이용", "이용자", "이름", "정리", "장소", "조건", "신청", "신청자", "안내",
	"오늘", "유지", "임시", "한번", "홍보", "황금", "배송", "변경", "서비스",
	"문의", "방법", "전체", "주문", "주문자", "지원", "지원자", "차량", "최근",
	"하루", "사용자", "전문가", "관리자", "운영자", "사업자", "개발자", "기획자",
	"작성자", "담당자", "책임자", "대표자", "참석자", "참가자", "방문자", "구매자",
	"판매자", "제공자", "신규", "신용", "신용카드", "주민", "주민센터", "안전",
	"안전성", "안정성", "유지보수", "최고", "최고가", "최저", "최저가", "최종",
	"최초", "최소", "최신", "장기", "장기간", "강의", "강의실", "임시저장",
	"하루종일", "정상", "정부", "정책", "정도", "조직", "조정", "주요", "주의",
	"주소", "지금", "지난", "지역", "전화", "전달", "전문", "전부", "제품", "제출",
	"제목", "제공", "성명", "성함", "손님", "고객", "고객님", "회원", "회원님",
	"문서", "민원", "방문", "배포", "백업", "변호", "서울", "서명", "송금", "신분",
	"양식", "연락", "우편", "원본", "유료", "인증", "임원", "장애", "정산", "진행",
	"차장", "천안", "추가", "표시", "한글", "함께", "현재", "홍콩", "공지", "공개",
	"구매", "권한", "김포", "남편", "노트", "마감", "모두", "모든", "반품", "보고",
	"보고서", "부서", "부장", "사항", "사원", "상담", "상품", "설명", "설정",
	"소속", "수정", "시간", "시스템", "안녕", "여러분", "예약", "예정", "오후",
	"오전", "우리", "원래", "유형", "이메일", "인사", "인사팀", "일정", "임대",
	"장비", "전원", "정말", "조사", "조금", "주간", "주말", "지점", "직원", "진료",
	"차이", "채용", "최적", "편집", "평가", "하나", "한도", "한정", "해당", "허가",
	"현장", "형태", "호출", "확인", "황사", "강사", "강좌", "고장", "공유", "구성",
	"국내", "기간", "기능", "기본", "나중", "노력", "도움", "동의", "동안", "명단",
	"목록", "문제", "반드시", "방금", "배달", "범위", "보안", "복사", "봉투",
	"부분", "사진", "사내", "상태", "선택", "설치", "성공", "소개", "손해", "승인",
	"시작", "신고", "심사", "안쪽", "양쪽", "어제", "여기", "연결", "예시", "오류",
	"온라인", "왕복", "용도", "우선", "원인", "위치", "육아", "인원", "인터넷",
	"전산", "전산팀", "정보보안", "정보보안팀", "조치", "주식", "지급", "진단",
	"채널", "천천히", "편의", "하단", "한쪽", "함수", "호텔", "홍길동전", "정관장",
	"김가네", "한샘", "신세계", "이마트", "이니스프리", "한강", "한강공원",
	"강남역", "홍대", "홍대입구", "현대", "현대자동차", "삼성", "신한", "신한은행",
	"하나은행", "국민", "국민은행", "우리은행", "기업은행", "농협", "이상한",
	"이상하", "정상적", "정기적", "정기", "구청", "시청", "도청", "동사무소",
	"주민등록", "남궁", "사공", "선우", "제갈", "황보", "독고", "전자", "전자기",
	"이동", "이동중", "방송", "심의", "구독", "기록", "기억", "도착", "명절",
	"모집", "방학", "배정", "설문", "성적", "소식", "수업", "시험", "신입", "안건",
	"연수", "예산", "원서", "위원회", "이력서", "인수", "인계", "장학금", "전공",
	"전학", "제도", "조기", "주제", "지원서", "진학", "차례", "출장", "탁송",
	"편지", "표준", "피드백", "하자", "학기", "한마디", "현황", "호실", "홍보팀",
	"황당", "연예인", "방송인", "유명인", "전문의", "지도자", "도우미", "전세금",
	"부모", "부모님", "사모", "사모님", "기사", "동생", "엄마", "어머니", "오빠",
	"조카", "사촌", "고모", "이모", "손자", "손녀", "남동생", "여동생", "사위",
	"시어머니", "장모", "장인", "동료", "상사", "강사", "남자", "여자", "소녀",
	"소년", "주인", "주인공", "손님", "상대", "상대방", "당사자", "민원인", "이분",
	"그분", "제조사", "공급사", "판매처", "협력사", "고객사", "거래처", "본사",
	"지사", "자회사", "계열사", "경쟁사", "언론사", "방송사", "여행사", "보험사",
	"카드사", "통신사", "택배사", "배송사", "운송사", "대리점", "모두", "우리",
	"여러분", "사무실", "사무소", "부담", "신청서", "신청일", "견적서", "추천서",
	"보고서", "계약서", "확인서", "청구서", "설명서", "이력서", "증명서", "진단서",
	"소견서", "의견서", "제안서", "기획서", "명세서", "고지서", "안내서", "교과서",
	"참고서", "주문서", "예산안", "부서명", "배송지", "연락처", "주소지", "소재지",
	"거주지", "근무지", "전화번호", "문자", "구분자", "주신", "주시", "주세요",
	"부탁", "배송비", "교통비", "관리비", "회비", "오류", "주가", "부산", "대구",
	"인천", "광주", "대전", "울산", "세종", "경기", "강원", "충북", "충남", "전북",
	"전남", "경북", "경남", "제주", "서울시", "부산시", "구분", "방침", "정책안",
	"초안", "수정안", "주차장", "주차", "지하철", "지하", "지불", "지시", "지정",
	"지출", "지속", "지식", "지침", "지표", NULL,
};

/* ---- English word lists ------------------------------------------------------------ */

static const char *const en_titles_words[] = {
	"Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Professor", "Sir", "Dame",
	"Madam", "Mister", "Officer", "Detective", "Judge", "Captain", "Capt", "Sgt",
	"Sergeant", "Nurse", "Rev", "Reverend", "Father", "Attorney", "Coach", "Lt",
	"Col", "Gen", NULL,
};

/* Cues a name follows (caseless; the label reader skips ':', spaces and quotes). */
static const char *const en_cues_words[] = {
	"my name is", "name is", "name's", "i am", "i'm", "this is", "dear", "hi",
	"hello", "hey", "thanks", "thank you", "contact", "contacting", "cc", "attn",
	"attention", "from", "to", "by", "with", "ask", "call", "email", "tell", "per",
	"assigned to", "reach out to", "name", "full name", "customer", "patient",
	"employee", "manager", "owner", "recipient", "sender", "signed", "approved by",
	"reviewed by", "account holder", "cardholder", "applicant", "candidate",
	"tenant", "landlord", "guest", "passenger", "client", "member", "user",
	"attendees", "participants", "panel", "team", "spoke to", "spoke with",
	"talked to", "meet", "met", "introducing", "welcome", "welcome aboard",
	"undersigned", "congratulations", "son", "daughter", "wife", "husband",
	"mother", "father", "brother", "sister", "friend", "colleague", "boss",
	"partner", "nephew", "niece", "uncle", "aunt", "cousin", "grandson",
	"granddaughter", "and", "congrats", NULL,
};

/* Lines a signature's name follows. */
static const char *const en_signoffs_words[] = {
	"regards", "best", "thanks", "thank you", "sincerely", "cheers", "yours",
	"respectfully", "warmly", "best wishes", "all the best", "talk soon",
	"take care", NULL,
};

/* Capitalised words in the given-name lists that are mostly something else: a name
 * only with a cue before it. */
static const char *const en_rarely_given_words[] = {
	"Santa", "San", "Saint", "St", "Olive", "Earl", "Easter", "Christmas", "Sunday",
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Amazon",
	"Apple", "Cloud", "Java", "Ruby", "Rust", "Swift", "Kotlin", "Scala", "Dart",
	"Elixir", "Crystal", "Nike", "Adidas", "Alexa", "Siri", "Cortana", "Dell",
	"Sony", "Lexus", "Camry", "Corolla", "Elantra", "Sonata", "Tesla", "Jaguar",
	"Bentley", "General", "Major", "King", "Prince", "Princess", "Duke", "Bishop",
	"Deacon", "Justice", "Liberty", "Trinity", "Genesis", "Destiny", "Harmony",
	"Melody", "Storm", "Winter", "Spring", "Summer", "Autumn", "Sky", "River",
	"Forest", "Stone", "Cash", "Price", "Penny", "Sterling", "Royal", "Honey",
	"Candy", "Cherry", "Ginger", "Sage", "Rain", "Sunny", "Paris", "Florence",
	"Sydney", "Dallas", "Houston", "Phoenix", "Denver", "Jersey", "Carolina",
	"Dakota", "Montana", "Nevada", "Indiana", "Georgia", "Victoria", "Washington",
	"Mercedes", "Morgan", "Wells", "Walt", "Kelly", "Hudson", "Marie", "Hope",
	"Faith", "Joy", "Eve", "Dawn", "May", "April", "June", "August", NULL,
};

/* Words after a given name that make it a place, organisation or thing. */
static const char *const en_not_surnames_words[] = {
	"Street", "Avenue", "Road", "Boulevard", "Lane", "Drive", "Inc", "Corp", "LLC",
	"Ltd", "Co", "Company", "Bank", "University", "College", "School", "Hospital",
	"Hotel", "Airport", "Station", "Beach", "County", "City", "Center", "Centre",
	"Foundation", "Institute", "Group", "Motors", "Motor", "Tech", "Post", "Times",
	"Journal", "Tunnel", "Bridge", "River", "Lake", "Mountain", "Valley", "Island",
	"Bay", "Falls", "Springs", "Heights", "Square", "Hall", "Library", "Museum",
	"Church", "Cathedral", "Clinic", "Mall", "Market", "Store", "Cafe",
	"Restaurant", "Grill", "Studio", "Studios", "Records", "Media", "Press",
	"Books", "Labs", "Systems", "Solutions", "Services", "Partners", "Capital",
	"Holdings", "Industries", "Airlines", "Insurance", "Financial", "Trust",
	"Energy", "Electric", "Health", "Medical", "Law", "Agency", "Department",
	"Team", "Support", "Office", "Day", "Week", "Series", "Theorem", "Test",
	"Method", "Chart", "Disease", "Syndrome", "Effect", "Award", "Prize", "Cup",
	"League", "Stadium", "Arena", "Festival", "Parade", "Show", "Pro", "The", "And",
	"Of", "Max", "Plus", "Mini", "Air", "Hole", "Blue", "Secret", "Transform",
	"Distribution", "Trial", "Lymphoma", "Benz", "Romeo", "Rover", "Hills",
	"Village", "Town", "Garden", "Gardens", "Sunday", "Monday", "Tuesday",
	"Wednesday", "Thursday", "Friday", "Saturday", "Grey", "Tea", "Coffee",
	"Whiskey", "Wine", "Beer", NULL,
};

/* Given-name + surname pairs that are brands: never a name. */
static const char *const en_brand_pairs_words[] = {
	"Morgan Stanley", "Goldman Sachs", "Charles Schwab", "Wells Fargo", "Dow Jones",
	"Ralph Lauren", "Calvin Klein", "Michael Kors", "Kate Spade", "Louis Vuitton",
	"Hugo Boss", "Walt Disney", "Jack Daniels", "Johnnie Walker", "Harley Davidson",
	"Rolls Royce", "Aston Martin", "Mercedes Benz", "Alfa Romeo", "Paris Hilton",
	"Tim Hortons", "Marie Curie", "Kelly Blue", "Betty Crocker", "Ronald McDonald",
	"Estee Lauder", "Tommy Hilfiger", "Marc Jacobs", "Vera Wang",
	"Victoria Beckham", "Hugo Chavez", "Jackson Hole", "Lincoln Center",
	"Jack Daniel", "Olive Garden", "Earl Grey", "Tom Collins", NULL,
};

/* Words after a title that make a brand or a character: "Mr. Clean", "Dr Pepper". */
static const char *const en_title_brands_words[] = {
	"Clean", "Pepper", "Martens", "Scholl", "Oetker", "Seuss", "Who", "Strange",
	"Robot", "Potato", "Freeze", "Bean", "Muscle", "Right", "Wrong", "Nobody",
	"Everyone", "Sir", "Feelgood", "Evil", "Jekyll", "Hyde", "President",
	"Chairman", "Speaker", NULL,
};

/* Cues strong enough for any capitalised name after them (the rest of en_cues need a
 * listed given name that is no common word). */
static const char *const en_strong_cues_words[] = {
	"my name is", "name is", "name's", "dear", "name", "full name", "signed",
	"account holder", "cardholder", "patient", "applicant", NULL,
};

/* Surname particles: "Al Farsi", "Van Dyke", "De Souza". */
static const char *const en_surname_particles_words[] = {
	"Al", "El", "Van", "Von", "De", "Da", "Di", "Du", "Le", "La", "Bin", "Ibn",
	"Abu", "Del", "Della", "Dos", "Das", "Mac", "St", NULL,
};

/* The lists above, hashed once (tables_init). */
static struct pii_wordset kr_double_surnames = PII_WORDSET(kr_double_surnames_words, 32);
static struct pii_wordset kr_titles = PII_WORDSET(kr_titles_words, 256);
static struct pii_wordset kr_titles_before = PII_WORDSET(kr_titles_before_words, 256);
static struct pii_wordset kr_labels = PII_WORDSET(kr_labels_words, 256);
static struct pii_wordset kr_particles = PII_WORDSET(kr_particles_words, 128);
static struct pii_wordset kr_person_particles = PII_WORDSET(kr_person_particles_words, 32);
static struct pii_wordset kr_not_names = PII_WORDSET(kr_not_names_words, 1024);
static struct pii_wordset en_titles = PII_WORDSET(en_titles_words, 64);
static struct pii_wordset en_cues = PII_WORDSET(en_cues_words, 256);
static struct pii_wordset en_signoffs = PII_WORDSET(en_signoffs_words, 32);
static struct pii_wordset en_rarely_given = PII_WORDSET(en_rarely_given_words, 256);
static struct pii_wordset en_not_surnames = PII_WORDSET(en_not_surnames_words, 512);
static struct pii_wordset en_brand_pairs = PII_WORDSET(en_brand_pairs_words, 128);
static struct pii_wordset en_title_brands = PII_WORDSET(en_title_brands_words, 64);
static struct pii_wordset en_strong_cues = PII_WORDSET(en_strong_cues_words, 32);
static struct pii_wordset en_surname_particles = PII_WORDSET(en_surname_particles_words, 64);

/* ---- tables --------------------------------------------------------------------- */

#define NSYL	PII_NSYL

/* What each Hangul syllable may be, one byte per syllable (one cache line per look):
 * a surname, a usual given-name syllable, the first syllable of a title, of a double
 * surname or of a particle, the last of a label. */
enum {
	S_SURNAME = 1, S_GIVEN = 2, S_TITLE1 = 4, S_DOUBLE1 = 8, S_PART1 = 16, S_LABELZ = 32,
};
static uint8_t		 syl_flags[NSYL];
/* Where a name may start (pii_person_kr_may, pii_int.h): a bit per syllable. */
uint8_t			 pii_name_first[PII_NSYL / 8 + 1];
static pthread_once_t	 tables_once = PTHREAD_ONCE_INIT;

static unsigned
syl_index(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return ((((unsigned)u[0] & 0x0F) << 12) | (((unsigned)u[1] & 0x3F) << 6) |
	    (u[2] & 0x3F)) - 0xAC00;
}

static void
set_flag(uint8_t flag, const char *syls)
{
	size_t	 k, n = strlen(syls);
	unsigned i;

	for (k = 0; k + 3 <= n; k += 3) {
		i = syl_index(syls + k);
		if (i >= NSYL)
			continue;
		syl_flags[i] |= flag;
		if (flag & (S_SURNAME | S_DOUBLE1))
			pii_name_first[i >> 3] |= (uint8_t)(1u << (i & 7));
	}
}

/* Sets the bit of the first (or, with `last`, the last) syllable of each Korean word
 * of list. */
static void
set_edges(uint8_t flag, const char *const *list, int last)
{
	char	 syl[4];
	size_t	 k, n;

	for (k = 0; list[k] != NULL; k++) {
		n = strlen(list[k]);
		if (n < 3 || !pii_hangul_at(list[k], n, last ? n - 3 : 0))
			continue;
		memcpy(syl, list[k] + (last ? n - 3 : 0), 3);
		syl[3] = '\0';
		set_flag(flag, syl);
	}
}

static void
tables_init(void)
{
	struct pii_wordset *const sets[] = {
		&kr_double_surnames, &kr_titles, &kr_titles_before, &kr_labels,
		&kr_particles, &kr_person_particles, &kr_not_names, &en_titles, &en_cues,
		&en_signoffs, &en_rarely_given, &en_not_surnames, &en_brand_pairs,
		&en_title_brands, &en_strong_cues, &en_surname_particles,
	};
	size_t	 k;

	set_flag(S_SURNAME, kr_surnames);
	set_flag(S_GIVEN, kr_given_syls);
	for (k = 0; k < sizeof(sets) / sizeof(sets[0]); k++)
		pii_wordset_build(sets[k]);
	set_edges(S_TITLE1, kr_titles_words, 0);
	set_edges(S_DOUBLE1, kr_double_surnames_words, 0);
	set_edges(S_PART1, kr_particles_words, 0);
	set_edges(S_LABELZ, kr_labels_words, 1);
	set_edges(S_LABELZ, kr_titles_before_words, 1);
}

/* 1 when the syllable at p (a Hangul syllable) is in bits. */
static inline int
syl_has(uint8_t flag, const char *p)
{
	unsigned i = syl_index(p);

	return i < NSYL && (syl_flags[i] & flag);
}

static int
en_lookup(const char *text, const unsigned *off, unsigned long n, const char *w,
    size_t len)
{
	char	 key[40];
	unsigned long lo = 0, hi = n, mid;
	int	 c;

	if (len == 0 || len >= sizeof(key))
		return 0;
	memcpy(key, w, len);
	key[len] = '\0';
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(text + off[mid], key)) == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ---- context shared by both languages ------------------------------------------- */

struct pii_ident {
	size_t	 s, e;
};


static int
ident_cmp(const void *a, const void *b)
{
	const struct pii_ident *x = a, *y = b;

	return x->s < y->s ? -1 : x->s > y->s;
}

/* Collects the identifiers found so far; -1 without memory. */
static int
collect_ids(struct pii_person *c)
{
	size_t	 i;
	int	 t;

	c->ids = NULL;
	c->nids = 0;
	for (i = 0; i < c->hv->n; i++) {
		t = c->hv->v[i].type;
		if (t != AIF_PII_T_PHONE && t != AIF_PII_T_EMAIL && t != AIF_PII_T_KR_RRN &&
		    t != AIF_PII_T_KR_FRN)
			continue;
		if (c->ids == NULL &&
		    (c->ids = malloc(c->hv->n * sizeof(*c->ids))) == NULL)
			return -1;
		c->ids[c->nids].s = c->hv->v[i].start;
		c->ids[c->nids++].e = c->hv->v[i].end;
	}
	if (c->nids > 1)
		qsort(c->ids, c->nids, sizeof(*c->ids), ident_cmp);
	return 0;
}

/* 1 when buf[a, b) holds at most NEAR_CHARS characters and no line break. */
static int
gap_short(const char *buf, size_t a, size_t b)
{
	size_t	 chars = 0;

	if (b < a || b - a > NEAR_CHARS * 4)
		return 0;
	pii_match_work += b - a;
	for (; a < b; a++) {
		if (buf[a] == '\n')
			return 0;
		chars += ((unsigned char)buf[a] & 0xC0) != 0x80;
	}
	return chars <= NEAR_CHARS;
}

/* 1 when an identifier ends within NEAR_CHARS before s or starts within them after e,
 * on the same line. */
static int
ident_near(const struct pii_person *c, size_t s, size_t e)
{
	size_t	 lo = 0, hi = c->nids, mid;

	while (lo < hi) {		/* the first identifier starting at or after e */
		mid = lo + (hi - lo) / 2;
		if (c->ids[mid].s < e)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->nids && gap_short(c->v->buf, e, c->ids[lo].s))
		return 1;
	return lo > 0 && c->ids[lo - 1].e <= s && gap_short(c->v->buf, c->ids[lo - 1].e, s);
}

static int
push_name(struct pii_person *c, size_t s, size_t e, int conf, int det)
{
	return pii_push_hit(c->hv, s, e, AIF_PII_T_PERSON, conf, PII_CDET_BASE + det, -1);
}

/* ---- Korean --------------------------------------------------------------------- */

/* How sure a reading is: it fits (SHAPE: its given name is usual), or a cue says so. */
enum { CUE_NONE, CUE_SHAPE, CUE_WEAK, CUE_NEAR, CUE_STRONG };

/* A Korean word of Hangul syllables buf[ws, we) (we - ws a multiple of 3), with what
 * its neighbours say, worked out once for all its readings. */
struct kword {
	size_t	 ws, we, nsyl;
	int	 before;	/* -1 not yet known, else CUE_STRONG or CUE_NONE: a label,
				   title or '@' before it */
	int	 shape;		/* a reading without cue is wanted (a list goes on) */
};

/* 1 when buf[p, p + n) is a title, possibly with 님 or a particle after it
 * ("과장님께", "대표가"), but not a longer word that starts like one ("이사회"). */
static int
kr_title_word(const char *buf, size_t p, size_t n)
{
	size_t	 t;

	if (pii_syl_in(buf, p + n, p, "님씨"))
		return 1;			/* "님께서는", "씨가" */
	if (!syl_has(S_TITLE1, buf + p))
		return 0;
	t = pii_prefix_in(&kr_titles, buf + p, n > 30 ? 30 : n);
	return t > 0 && (t == n || pii_syl_is(buf, p + n, p + t, "님") ||
	    pii_word_in(&kr_particles, buf + p + t, n - t));
}

/* 1 when buf[p, p + n) is a particle. */
static int
kr_particle(const char *buf, size_t p, size_t n)
{
	return syl_has(S_PART1, buf + p) && pii_word_in(&kr_particles, buf + p, n);
}

/* The cue of what follows a name ending at ne in its word (rn more bytes of it):
 * CUE_STRONG for an honorific or title ("님께", "씨가", " 과장님"), for a particle
 * used of people when the given name is usual; CUE_NONE for another particle or
 * nothing; -1 when the rest of the word is no particle (no name ends at ne). */
static int
kr_after_name(const char *buf, size_t len, size_t ne, size_t rn, int given_ok, size_t gl)
{
	size_t	 n, t;

	if (rn > 0) {
		if (pii_syl_in(buf, len, ne, "님씨"))
			return CUE_STRONG;		/* 김민지님께, 김솔씨가 */
		if (given_ok && kr_title_word(buf, ne, rn)) {
			t = pii_prefix_in(&kr_titles, buf + ne, rn > 30 ? 30 : rn);
			if (gl == 2 || pii_syl_is(buf, len, ne + t, "님"))
				return CUE_STRONG;	/* 정우진과장님, 김솔과장님 */
		}
		if (!kr_particle(buf, ne, rn))
			return -1;
		return given_ok && pii_word_in(&kr_person_particles, buf + ne, rn) ?
		    CUE_STRONG : CUE_NONE;		/* 강다은에게 */
	}
	if (ne + 4 > len || buf[ne] != ' ' || !pii_hangul_at(buf, len, ne + 1) ||
	    !syl_has(S_TITLE1, buf + ne + 1))
		return CUE_NONE;
	n = pii_kword_end(buf, len, ne + 1, 36) - (ne + 1);
	if (!kr_title_word(buf, ne + 1, n))
		return CUE_NONE;
	/* "김민지 님께", "정우진 과장님"; "고객", "회원" after a word that is no name
	 * ("신규 고객") only with a usual given name */
	t = pii_prefix_in(&kr_titles, buf + ne + 1, n > 30 ? 30 : n);
	return given_ok || pii_syl_in(buf, len, ne + 1, "님씨") ||
	    pii_syl_is(buf, len, ne + 1 + t, "님") ? CUE_STRONG : CUE_NONE;
}

/* 1 when a field name and a colon or '=' come just before ws ("이름: ", "성명 = "):
 * a known label, or with `any` any Korean word ("참석: "). */
static int
kr_field_before(const char *buf, size_t ws, int any)
{
	size_t	 i = ws;

	while (i > 0 && ws - i < 4 && (buf[i - 1] == ' ' || buf[i - 1] == '"' ||
	    buf[i - 1] == '\''))
		i--;
	if (i == 0 || (buf[i - 1] != ':' && buf[i - 1] != '='))
		return 0;
	if (any)
		return i >= 4 && pii_hangul_at(buf, i - 1, i - 4);
	return pii_label_before(buf, ws, &kr_labels);
}

/* What comes before w (cached in w->before): CUE_STRONG for a label or title
 * ("고객명 ", "대표이사 ") or '@', else CUE_NONE. Cheap refusals first: a label ends in
 * a letter or in a syllable some label ends in. */
static int
kr_before(const char *buf, struct kword *w)
{
	size_t	 i = w->ws;

	if (w->before >= 0)
		return w->before;
	w->before = CUE_NONE;
	while (i > 0 && w->ws - i < 8 && pii_label_gap((unsigned char)buf[i - 1]))
		i--;
	if (w->ws > 0 && buf[w->ws - 1] == '@')
		w->before = CUE_STRONG;		/* @주현민 */
	else if (i == 0 || (i >= 3 && pii_hangul_at(buf, i, i - 3) &&
	    !syl_has(S_LABELZ, buf + i - 3) && !(i >= 6 &&
	    pii_syl_in(buf, i, i - 3, "은는이가") && pii_hangul_at(buf, i, i - 6) &&
	    syl_has(S_LABELZ, buf + i - 6))))
		;
	else if (pii_label_before(buf, w->ws, &kr_labels) ||
	    pii_label_before(buf, w->ws, &kr_titles_before))
		w->before = CUE_STRONG;		/* 고객명 박서준, 대표이사 성다인 */
	return w->before;
}

/* 1 when the name buf[s, e) (its given name from g) is a word of its own: a word
 * that only looks like a name, a title or label, or 부 + a title ("부원장"). */
static int
kr_not_a_name(const char *buf, size_t s, size_t g, size_t e)
{
	return pii_word_in(&kr_not_names, buf + s, e - s) ||
	    pii_word_in(&kr_titles, buf + s, e - s) ||
	    pii_word_in(&kr_labels, buf + s, e - s) ||
	    pii_word_in(&kr_titles, buf + g, e - g);
}

/* 1 when w is a known word with a particle or nothing after it ("권한이", "정보를"):
 * no reading of it is a name. */
static int
kr_known_word(const char *buf, const struct kword *w)
{
	size_t	 l, ne;

	for (l = 2; l <= 4 && l <= w->nsyl; l++) {
		ne = w->ws + 3 * l;
		if ((ne == w->we || kr_particle(buf, ne, w->we - ne)) &&
		    pii_word_in(&kr_not_names, buf + w->ws, ne - w->ws))
			return 1;
	}
	return 0;
}

/* The name of `sl` surname and `gl` given syllables at the start of w: its cue
 * (CUE_NONE: nothing says it is a name), or -1 when the word cannot be read that
 * way. CUE_SHAPE (it fits and its given name is usual) only when w->shape asks. */
static int
kr_split(const struct pii_person *c, struct kword *w, size_t sl, size_t gl)
{
	const char *buf = c->v->buf;
	size_t	 len = c->v->len, g = w->ws + 3 * sl, ne = g + 3 * gl, rn = w->we - ne, i;
	int	 given_ok = 1, cue;

	for (i = g; i < ne; i += 3)
		given_ok &= syl_has(S_GIVEN, buf + i);
	if ((cue = kr_after_name(buf, len, ne, rn, given_ok, gl)) < 0)
		return -1;
	if (cue == CUE_NONE && kr_field_before(buf, w->ws, 0))
		cue = CUE_STRONG;			/* 이름: 고은비 */
	if (cue == CUE_NONE && given_ok) {
		if (kr_before(buf, w) == CUE_STRONG || (gl == 2 &&
		    kr_field_before(buf, w->ws, 1)))
			cue = CUE_STRONG;
		else if (gl == 2 && c->nids > 0 && ident_near(c, w->ws, ne))
			cue = CUE_NEAR;			/* 홍길동 010-… */
		else if (rn > 0 && gl == 2 && !pii_syl_is(buf, len, ne - 3, "하") &&
		    !pii_syl_in(buf, len, ne, "을를만"))
			cue = CUE_WEAK;			/* 최지은은, 서지호의 */
		else if (w->shape)
			cue = CUE_SHAPE;
	}
	if (cue == CUE_NONE || kr_not_a_name(buf, w->ws, g, ne))
		return cue == CUE_NONE ? CUE_NONE : -1;
	return cue;
}

/* Reads w as a name: the end of the name and its cue in *cue, or 0 when no reading
 * fits. The readings tried: surname + 2, double surname + 1, surname + 1, double
 * surname + 2; the first with a cue wins, else the first plausible one (CUE_SHAPE). */
static size_t
kr_name(const struct pii_person *c, struct kword *w, int *cue)
{
	static const size_t splits[4][2] = { { 1, 2 }, { 2, 1 }, { 1, 1 }, { 2, 2 } };
	const char *buf = c->v->buf;
	size_t	 k, first = 0, sl, gl, ne;
	int	 dbl, single, r;

	*cue = CUE_NONE;
	if (w->we < c->v->len && buf[w->we] == ':')
		return 0;			/* "상병명:" names a field */
	single = syl_has(S_SURNAME, buf + w->ws);
	dbl = w->nsyl >= 3 && syl_has(S_DOUBLE1, buf + w->ws) &&
	    pii_word_in(&kr_double_surnames, buf + w->ws, 6);
	for (k = 0; k < 4; k++) {
		sl = splits[k][0];
		gl = splits[k][1];
		if (sl + gl > w->nsyl || (sl == 1 && !single) || (sl == 2 && !dbl))
			continue;
		if ((r = kr_split(c, w, sl, gl)) <= CUE_NONE)
			continue;
		ne = w->ws + 3 * (sl + gl);
		if (r > CUE_SHAPE) {
			*cue = r;
			return kr_known_word(buf, w) ? (*cue = CUE_NONE, 0) : ne;
		}
		if (first == 0)
			first = ne;
	}
	if (first == 0 || kr_known_word(buf, w))
		return 0;
	*cue = CUE_SHAPE;
	return first;
}

/* A list separator run at p (", ", "·", " / ", "、", " 및 ", "와 "): its end, or p. */
static size_t
kr_list_sep(const char *buf, size_t len, size_t p)
{
	size_t	 q = p;
	int	 mark = 0;

	while (q < len && q - p < 8) {
		if (buf[q] == ' ')
			q++;
		else if (buf[q] == ',' || buf[q] == '/')
			q++, mark = 1;
		else if (q + 2 <= len && (unsigned char)buf[q] == 0xC2 &&
		    (unsigned char)buf[q + 1] == 0xB7)
			q += 2, mark = 1;			/* · */
		else if (q + 3 <= len && memcmp(buf + q, "\xe3\x80\x81", 3) == 0)
			q += 3, mark = 1;			/* 、 */
		else if (pii_syl_is(buf, len, q, "및") && q + 3 < len && buf[q + 3] == ' ')
			q += 4, mark = 1;
		else
			break;
	}
	return mark ? q : p;
}

static int
flush_pending(struct pii_person *c)
{
	size_t	 k;

	for (k = 0; k < c->npend; k++)
		if (push_name(c, c->pend_s[k], c->pend_e[k], 70, CDET_KR_PERSON) != 0)
			return -1;
	c->npend = 0;
	return 0;
}

/* 1 when a list separator follows the word ending at we. */
static int
kr_list_follows(const char *buf, size_t len, size_t we)
{
	return we < len && (buf[we] == ',' || buf[we] == '/' ||
	    (we + 2 <= len && memcmp(buf + we, "\xc2\xb7", 2) == 0) ||	/* · */
	    (we + 3 <= len && memcmp(buf + we, "\xe3\x80\x81", 3) == 0) ||	/* 、 */
	    (buf[we] == ' ' && pii_syl_is(buf, len, we + 1, "및")));
}

/* 1 when some cue may be near w, by cheap tests only (most words have none): a
 * syllable after the second or third that may start an honorific, title or
 * particle; a title word after it; a ':', '=', '@', letter or label-like syllable
 * before it; an identifier on the text. */
static int
kr_maybe_cue(const struct pii_person *c, const struct kword *w)
{
	const char *buf = c->v->buf;
	size_t	 len = c->v->len, k, i = w->ws;

	if (i > 0 && buf[i - 1] == '@')
		return 1;			/* @주현민 */
	for (k = 2; k <= 4 && k < w->nsyl; k++)
		if (syl_has(S_PART1, buf + w->ws + 3 * k) ||
		    syl_has(S_TITLE1, buf + w->ws + 3 * k))
			return 1;
	if (w->we + 4 <= len && buf[w->we] == ' ' && pii_hangul_at(buf, len, w->we + 1) &&
	    syl_has(S_TITLE1, buf + w->we + 1))
		return 1;
	if (c->nids > 0)
		return 1;
	while (i > 0 && w->ws - i < 8 && pii_label_gap((unsigned char)buf[i - 1]))
		i--;
	if (i == 0)
		return 0;
	if (i < w->ws && (buf[i] == ':' || buf[i] == '=' || buf[w->ws - 1] == '@'))
		return 1;
	if (i >= 3 && pii_hangul_at(buf, i, i - 3))
		return syl_has(S_LABELZ, buf + i - 3) ||
		    pii_syl_in(buf, i, i - 3, "은는이가");
	return (buf[i - 1] >= 'a' && buf[i - 1] <= 'z') || (buf[i - 1] >= 'A' &&
	    buf[i - 1] <= 'Z');
}


enum aif_err
pii_person_kr(struct pii_person *c, size_t ws, size_t we)
{
	const char *buf = c->v->buf;
	size_t	 len = c->v->len, ne = 0;
	struct kword w;
	int	 cue = CUE_NONE;

	pii_match_work += we - ws;
	if (ws >= 3 && pii_hangul_at(buf, len, ws - 3))
		return AIF_OK;			/* not a word start */
	w.ws = ws;
	w.we = we;
	w.nsyl = (we - ws) / 3 < NAME_SYLS_MAX ? (we - ws) / 3 : NAME_SYLS_MAX;
	w.before = -1;
	/* a list goes on only across separators */
	if ((c->npend > 0 || c->chained) && kr_list_sep(buf, len, c->pend_end) != ws) {
		c->npend = 0;
		c->chained = 0;
	}
	w.shape = c->chained || kr_list_follows(buf, len, we);
	if (w.nsyl >= 2 && pii_person_kr_may(buf + ws) && (w.shape || kr_maybe_cue(c, &w)))
		ne = kr_name(c, &w, &cue);
	if (ne > 0 && (cue > CUE_SHAPE || c->chained)) {
		if (cue < CUE_NEAR)
			c->npend = 0;		/* a weak cue does not carry a list */
		if (flush_pending(c) != 0 ||
		    push_name(c, ws, ne, cue == CUE_STRONG ? 90 : cue == CUE_NEAR ? 80 :
		    c->chained ? 70 : 60, CDET_KR_PERSON) != 0)
			return AIF_NOMEM;
		c->chained = cue != CUE_WEAK;
	} else if (ne > 0 && c->npend < PII_PENDING_MAX && ne == we) {
		c->pend_s[c->npend] = ws;
		c->pend_e[c->npend++] = ne;
	} else {
		c->npend = 0;
		c->chained = 0;
	}
	c->pend_end = we;
	return AIF_OK;
}

/* ---- English -------------------------------------------------------------------- */


/* An English word [s, e): its end without a possessive "'s". */
static size_t
en_bare(const char *buf, size_t s, size_t e)
{
	return e - s > 3 && buf[e - 2] == '\'' && buf[e - 1] == 's' ? e - 2 : e;
}

static int
en_given(const char *buf, size_t s, size_t e)
{
	const char *dash = memchr(buf + s, '-', e - s);

	if (en_lookup(pii_en_given_text, pii_en_given_off, pii_en_given_count, buf + s,
	    e - s))
		return 1;
	/* "Mary-Ann", "Ji-hoon": the first part */
	return dash != NULL && en_lookup(pii_en_given_text, pii_en_given_off,
	    pii_en_given_count, buf + s, (size_t)(dash - (buf + s)));
}

static int
en_surname(const char *buf, size_t s, size_t e)
{
	return en_lookup(pii_en_surname_text, pii_en_surname_off, pii_en_surname_count,
	    buf + s, e - s);
}

/* The capitalised word after the one ending at e, past one space and an optional
 * middle initial ("J. "): its bounds in *s2, *e2; 0 when there is none. */
static int
en_next_cap(const char *buf, size_t len, size_t e, size_t *s2, size_t *e2)
{
	size_t	 p = e;

	if (p + 1 >= len || buf[p] != ' ')
		return 0;
	p++;
	if (p + 3 < len && buf[p] >= 'A' && buf[p] <= 'Z' && buf[p + 1] == '.' &&
	    buf[p + 2] == ' ')
		p += 3;
	*s2 = p;
	*e2 = en_bare(buf, p, pii_aword_end(buf, len, p));
	if (*e2 < len && (buf[*e2] == '@' || (unsigned char)buf[*e2] >= 0x80 ||
	    (buf[*e2] == '.' && *e2 + 1 < len && pii_is_alnum((unsigned char)buf[*e2 + 1]))))
		return 0;			/* "Jane.Doe@…", "García" */
	return pii_cap_word(buf, *s2, *e2) &&
	    !pii_word_in(&en_not_surnames, buf + *s2, *e2 - *s2);
}


/* A surname [s2, e2) that is a particle takes the next capitalised word with it. */
static size_t
en_extend(const char *buf, size_t len, size_t s2, size_t e2)
{
	size_t	 s3, e3;

	if (!pii_word_in(&en_surname_particles, buf + s2, e2 - s2) || e2 + 2 >= len ||
	    buf[e2] != ' ')
		return e2;
	s3 = e2 + 1;
	e3 = en_bare(buf, s3, pii_aword_end(buf, len, s3));
	return pii_cap_word(buf, s3, e3) ? e3 : e2;
}

/* 1 when a colon comes just before s ("Tenant: "). */
static int
en_colon_before(const char *buf, size_t s)
{
	size_t	 i = s;

	while (i > 0 && s - i < 3 && buf[i - 1] == ' ')
		i--;
	return i > 0 && buf[i - 1] == ':';
}

/* 1 when the line before s ends with a sign-off ("Best regards,") and s starts a
 * line. */
static int
en_signature(const char *buf, size_t s)
{
	if (s < 2 || buf[s - 1] != '\n')
		return 0;
	return pii_label_before(buf, s - 1, &en_signoffs);
}

/* After a title at [s, e): the name that follows ("Mr. Smith", "Dr. Emily Carter",
 * "Mr. and Mrs. Fitzgerald"). Returns its end and its start in *ns, or 0. */
static size_t
en_after_title(const char *buf, size_t len, size_t e, size_t *ns)
{
	size_t	 p = e + (e < len && buf[e] == '.'), s2, e2, s3, e3;

	if (p + 9 < len && memcmp(buf + p, " and ", 5) == 0) {
		s2 = p + 5;
		e2 = pii_aword_end(buf, len, s2);
		if (pii_word_in(&en_titles, buf + s2, e2 - s2))
			p = e2 + (e2 < len && buf[e2] == '.');
	}
	if (!en_next_cap(buf, len, p, &s2, &e2) ||
	    pii_word_in(&en_title_brands, buf + s2, e2 - s2) ||
	    pii_word_in(&en_titles, buf + s2, e2 - s2))
		return 0;
	*ns = s2;
	if (en_next_cap(buf, len, e2, &s3, &e3) && (en_given(buf, s2, e2) ||
	    en_surname(buf, s3, e3)))
		return en_extend(buf, len, s3, e3);
	return en_extend(buf, len, s2, e2);
}

/* A name whose first word is [s, e) (capitalised, no title): its end, or 0. */
static size_t
en_name(const struct pii_person *c, size_t s, size_t e, int *conf)
{
	const char *buf = c->v->buf;
	size_t	 len = c->v->len, s2 = 0, e2 = 0;
	char	 pair[64];
	int	 given, has2, sur, strong, weak, cued;

	given = en_given(buf, s, e);
	has2 = en_next_cap(buf, len, e, &s2, &e2);
	sur = has2 && en_surname(buf, s2, e2);
	if (!given && !sur)
		return 0;
	if (has2 && e2 - s < sizeof(pair)) {
		memcpy(pair, buf + s, e - s);
		pair[e - s] = ' ';
		memcpy(pair + (e - s) + 1, buf + s2, e2 - s2);
		if (pii_word_in(&en_brand_pairs, pair, (e - s) + 1 + (e2 - s2)))
			return 0;
	}
	strong = pii_label_before(buf, s, &en_strong_cues) || en_signature(buf, s) ||
	    (en_colon_before(buf, s) && pii_label_before(buf, s, &en_cues));
	/* a cue word before, or the next of a list: "Laura Chen, Tomasz Nowak" */
	cued = pii_label_before(buf, s, &en_cues) ||
	    (c->en_last > 0 && s == c->en_last + 2 && buf[c->en_last] == ',');
	weak = !strong && (cued || ident_near(c, s, e));
	*conf = strong ? 90 : weak ? 80 : 70;
	if (has2)
		e2 = en_extend(buf, len, s2, e2);
	if (strong && has2)
		return e2;
	if (strong && given)
		return e;			/* "Dear Sarah," */
	if (pii_word_in(&en_rarely_given, buf + s, e - s))
		return 0;			/* "Santa Monica" */
	if (!given)
		return cued && sur ? e2 : 0;	/* "Tomasz Nowak"; not "Customer Noah" */
	if (sur || (has2 && (weak || buf[s2 - 2] == '.')))
		return e2;	/* "John Smith", "Grace Kim", "by Grace Whitfield",
				   "Robert J. Hargrove" */
	return 0;
}

size_t
pii_person_en(struct pii_person *c, size_t i, enum aif_err *err)
{
	const char *buf = c->v->buf;
	size_t	 len = c->v->len, e, ne, ns = i;
	int	 conf = 90;

	e = en_bare(buf, i, pii_aword_end(buf, len, i));
	if (e < len && (unsigned char)buf[e] >= 0x80)
		return 0;			/* "Tomás": not an ASCII word */
	if (pii_word_in(&en_titles, buf + i, e - i))
		ne = en_after_title(buf, len, e, &ns);
	else
		ne = pii_cap_word(buf, i, e) ? en_name(c, i, e, &conf) : 0;
	if (ne == 0 || (ne < len && buf[ne] == '@'))
		return 0;
	if (push_name(c, ns, ne, conf, CDET_EN_PERSON) != 0) {
		*err = AIF_NOMEM;
		return 0;
	}
	c->en_last = ne;
	return ne;
}

enum aif_err
pii_person_begin(struct pii_person *c, const struct pii_vctx *v, struct pii_hitvec *hv)
{
	memset(c, 0, sizeof(*c));
	c->v = v;
	c->hv = hv;
	if (pthread_once(&tables_once, tables_init) != 0 || collect_ids(c) != 0)
		return AIF_NOMEM;
	return AIF_OK;
}

void
pii_person_end(struct pii_person *c)
{
	free(c->ids);
	c->ids = NULL;
}
