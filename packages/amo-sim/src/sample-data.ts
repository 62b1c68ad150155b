/** The made-up content of generated accounts: Russian names, pipelines, statuses, colours, tags, options; and picking from it. */
import type { FieldType } from './types.ts';

export const FIRST_NAMES = ['Анна', 'Иван', 'Мария', 'Дмитрий', 'Елена', 'Сергей', 'Ольга', 'Алексей', 'Татьяна', 'Никита', 'Юлия', 'Павел'];
export const LAST_NAMES = ['Иванова', 'Петров', 'Смирнова', 'Кузнецов', 'Попова', 'Соколов', 'Лебедева', 'Козлов', 'Новикова', 'Морозов', 'Волкова', 'Фёдоров'];
const TRANSLIT: Record<string, string> = {
  а: 'a',
  б: 'b',
  в: 'v',
  г: 'g',
  д: 'd',
  е: 'e',
  ё: 'e',
  ж: 'zh',
  з: 'z',
  и: 'i',
  й: 'y',
  к: 'k',
  л: 'l',
  м: 'm',
  н: 'n',
  о: 'o',
  п: 'p',
  р: 'r',
  с: 's',
  т: 't',
  у: 'u',
  ф: 'f',
  х: 'h',
  ц: 'ts',
  ч: 'ch',
  ш: 'sh',
  щ: 'sch',
  ъ: '',
  ы: 'y',
  ь: '',
  э: 'e',
  ю: 'yu',
  я: 'ya',
};
export const PIPELINE_NAMES = ['Воронка', 'Продажи', 'Партнёры', 'Повторные продажи', 'Тендеры', 'Опт', 'Розница', 'Сервис'];
export const STATUS_NAMES = [
  'Первичный контакт',
  'Переговоры',
  'Принимают решение',
  'Согласование договора',
  'Выставлен счёт',
  'Ожидание оплаты',
  'Отгрузка',
  'Квалификация',
  'Замер',
  'Коммерческое предложение',
];
export const STATUS_COLORS = [
  '#99ccff',
  '#ffff99',
  '#ffcc66',
  '#ffcccc',
  '#ff9999',
  '#ccff66',
  '#d6eaff',
  '#c1e0ff',
  '#98cbff',
  '#ebffb1',
  '#deff81',
  '#87f2c0',
  '#f9deff',
  '#f3beff',
  '#ccc8f9',
  '#eb93ff',
  '#fffeb2',
  '#fffd7f',
  '#fff000',
  '#ffeab2',
];
export const COMPANY_NAMES = ['Ромашка', 'Вектор', 'Мегаполис', 'Альфа-Строй', 'Горизонт', 'Кухни Плюс'];
export const TAG_COLORS = [null, 'DDEBB5', 'FFC8C8', 'FFCE5A', 'C1E0FF', 'EB93FF', '87F2C0', 'F2F3F4', 'D6EAFF', 'FFDC7F'];
export const TAG_NAMES = ['квиз', 'горячий', 'VIP', 'повторный', 'сайт', 'яндекс', 'холодный', 'партнёр', 'опт', 'розница', 'tilda', 'instagram'];
export const OPTION_SETS = [
  ['Москва', 'Санкт-Петербург', 'Казань', 'Новосибирск', 'Екатеринбург'],
  ['до 100 000 ₽', '100 000 – 500 000 ₽', 'более 500 000 ₽'],
  ['Да', 'Нет', 'Не знаю'],
  ['Квартира', 'Дом', 'Офис', 'Склад'],
  ['Звонок', 'Email', 'Telegram', 'WhatsApp'],
];
export const FIELD_NAMES: Record<FieldType, string> = {
  text: 'Комментарий',
  numeric: 'Площадь, м²',
  checkbox: 'Согласие на рассылку',
  select: 'Город',
  multiselect: 'Способ связи',
  multitext: 'Мессенджеры',
  date: 'Дата замера',
  date_time: 'Время звонка',
  birthday: 'День рождения',
  url: 'Сайт',
  textarea: 'Пожелания',
  radiobutton: 'Тип объекта',
  streetaddress: 'Адрес объекта',
  smart_address: 'Адрес доставки',
  legal_entity: 'Юр. лицо',
  tracking_data: 'Источник',
  monetary: 'Бюджет',
  price: 'Стоимость',
  category: 'Категория',
  items: 'Товары',
  linked_entity: 'Связанный объект',
  chained_list: 'Каталог',
  file: 'Файл',
};

export function translit(s: string): string {
  return [...s.toLowerCase()].map((c) => TRANSLIT[c] ?? c).join('');
}

/** list[index]; throws when the list has no such item (the lists here are constants, never empty). */
export function item<T>(list: readonly T[], index: number): T {
  const v = list[index];
  if (v === undefined) throw new Error(`amo-sim: no item ${index} in a list of ${list.length}`);
  return v;
}

export function pick<T>(rnd: () => number, list: readonly T[]): T {
  return item(list, Math.floor(rnd() * list.length));
}
